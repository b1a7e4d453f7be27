"""`scandepot serve` as a process of its own, for the tests that need a second server (a
far side to push to): its own data folder and catalog, free loopback ports, the code
under test, readiness on /healthz, its output in a log file, stopped by a signal and
started again on the same ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

import scandepot

PASSWORD = "far-side-admin-pass"  # the site admin's, on the first start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a server on ``data_dir`` (SQLite there), with none of this
    process's SCANDEPOT_ settings; ``settings`` are more, by their names without prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["PYTHONPATH"] = str(Path(scandepot.__file__).parents[1])  # the code under test
    env["SCANDEPOT_DATA_DIR"] = str(data_dir)
    env["SCANDEPOT_ADMIN_PASSWORD"] = PASSWORD
    env.update({f"SCANDEPOT_{k.upper()}": v for k, v in settings.items()})
    return env


class Serve:
    """One `scandepot serve` process; :meth:`start` again after :meth:`stop` takes the same
    ports and data."""

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str],
        *,
        start_within_s: float = 60,
        port: int | None = None,
        args: tuple[str, ...] = (),
        wait: bool = True,
    ) -> None:
        """``port``: the HTTP port, when the caller must know it first (a public_url);
        ``args``: more options of `scandepot serve`; ``wait``: whether to wait here until
        it answers (else :meth:`wait_healthy` does, for servers started side by side)."""
        self.cwd, self.env, self.args = cwd, env, args
        self.port, self.dicom_port = port or free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        self.start_within_s = start_within_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.start(wait=wait)

    def start(self, *, wait: bool = True) -> None:
        env = {
            **self.env,
            "SCANDEPOT_DICOM_PORT": str(self.dicom_port),
            "SCANDEPOT_SFTP_ENABLED": "false",  # tests/sftp prove it
        }
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scandepot", "serve", "--port", str(self.port), *self.args],
                cwd=self.cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_healthy()

    def wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_within_s
        while not self.healthy():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait(timeout=30)
                raise AssertionError(f"serve did not start:\n{self.output()}")
            time.sleep(0.1)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)
