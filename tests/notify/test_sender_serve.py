"""`scandepot serve` sends what is in the outbox, and a SIGKILL mid-way loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import scandepot
from scandepot.catalog.notify import Delivery
from scandepot.context import Context
from scandepot.notify import outbox
from tests.notify.helpers import queue
from tests.notify.mailserver import MailServer, free_port

pytestmark = pytest.mark.interop

MESSAGES = 40


class Serve:
    """`scandepot serve` as a process, started and waited for (a busy machine: a minute)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        port = free_port()
        env = {
            **env,
            "SCANDEPOT_DICOM_PORT": str(free_port()),
            "SCANDEPOT_SFTP_ENABLED": "false",  # tests/sftp prove it
        }
        self.log = cwd / f"serve-{port}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scandepot", "serve", "--port", str(port)],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while not self._healthy(f"http://127.0.0.1:{port}/healthz"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"serve did not start:\n{self.output()}")
            time.sleep(0.1)

    @staticmethod
    def _healthy(url: str) -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


def serve_env(ctx: Context, mail: MailServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["PYTHONPATH"] = str(Path(scandepot.__file__).parents[1])  # the code under test
    env.update(
        SCANDEPOT_DATA_DIR=str(ctx.settings.data_dir),
        SCANDEPOT_DATABASE_URL=str(ctx.settings.database_url),
        SCANDEPOT_ADMIN_PASSWORD="serve-mail-pass",
        SCANDEPOT_NOTIFY_POLL_S="0.1",
        # Short waits: a message in flight at the kill is held for its lease, which is
        # a few times these.
        SCANDEPOT_SMTP_TIMEOUT_S="0.5",
        SCANDEPOT_WEBHOOK_TIMEOUT_S="0.5",
        **{f"SCANDEPOT_{k.upper()}": str(v) for k, v in mail.settings().items()},
    )
    return env


# On SQLite alone: the claim, the lease and the record are the outbox's statements, which
# its own tests run on both catalogs; this one proves the processes, and costs two starts
# of `serve` and a lease.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sigkill_with_messages_in_the_outbox(
    ctx: Context, mail_server: MailServer, tmp_path: Path
) -> None:
    mail_server.handler.delay_s = 0.2  # slow enough to be killed mid-way
    env = serve_env(ctx, mail_server)
    server = Serve(tmp_path, env)
    try:
        ids = queue(ctx, *(f"user{i}@example.org" for i in range(MESSAGES)))
        try:
            mail_server.wait_for(3)
        except AssertionError:
            raise AssertionError(server.output()) from None
    finally:
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert len(mail_server.received) < MESSAGES
    again = Serve(tmp_path, env)
    try:
        deadline = time.monotonic() + 90
        while any(r.status != Delivery.SENT.value for r in outbox.load(ctx, ids)):
            assert time.monotonic() < deadline, again.output()
            time.sleep(0.2)
    finally:
        again.stop()
    keys = {r.message_key for r in outbox.load(ctx, ids)}
    assert {r.message["Message-ID"] for r in mail_server.received} == keys
