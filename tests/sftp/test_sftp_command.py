"""`scandepot sftp`: the SFTP server alone, as a process, against the data folder and
catalog of its settings, until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.cli.common import open_context
from scandepot.context import Context
from scandepot.ingest import drop_accounts, drops
from scandepot.ingest.drop_accounts import DropAccountCreate
from scandepot.settings import Settings
from tests.serve_process import free_port

pytestmark = pytest.mark.interop


def _world(data: Path) -> Context:
    ctx = open_context(Settings(data_dir=data, admin_password="x" * 12))
    projects.create(ctx, SYSTEM, ProjectCreate(id="ALONE"))
    account = DropAccountCreate(name="console", password="console-pass")
    drop_accounts.create(ctx, SYSTEM, "ALONE", account)
    return ctx


def _server(data: Path, port: int) -> subprocess.Popen[str]:
    """`scandepot sftp` on ``data``, once it listens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    command = [sys.executable, "-m", "scandepot", "sftp", "--data-dir", str(data)]
    server = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    assert server.stdout.readline().strip() == f"SFTP on 127.0.0.1:{port}"
    return server


def _client(port: int) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1",
        port=port,
        username="ALONE+console",
        password="console-pass",
        look_for_keys=False,
        allow_agent=False,
        timeout=30,
    )
    return client


def test_scandepot_sftp_runs_the_server_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ctx = _world(data)
    port = free_port()
    with _server(data, port) as server:
        with (client := _client(port)), client.open_sftp().open("/log.txt", "wb") as fh:
            fh.write(b"alone")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert (drops.project_dir(ctx, "ALONE") / "log.txt").read_bytes() == b"alone"
    assert [d.path for d in drops.unmatched_drops(ctx)] == ["log.txt"]
    ctx.close()


def test_every_answered_close_is_kept_when_the_server_is_killed(tmp_path: Path) -> None:
    """SIGKILL as soon as the last close is answered, before the settler (which gathers
    closes for a moment) has catalogued the last of them: the next start does."""
    data = tmp_path / "data"
    ctx = _world(data)
    port = free_port()
    sent = {f"f{i:02d}.raw": os.urandom(2000 + i) for i in range(40)}
    with _server(data, port) as server:
        with (client := _client(port)), client.open_sftp() as sftp:
            for name, content in sent.items():
                with sftp.open(name, "wb") as fh:
                    fh.write(content)
            server.kill()
        server.wait(timeout=30)
    with _server(data, port) as again:  # listening once its start has settled them
        again.send_signal(signal.SIGTERM)  # maybe before its handler is in: not judged
        again.wait(timeout=30)
    found = {d.path: d for d in drops.unmatched_drops(ctx)}
    assert sorted(found) == sorted(sent)  # each once
    folder = drops.project_dir(ctx, "ALONE")
    for name, content in sent.items():
        assert (folder / name).read_bytes() == content
        assert found[name].size == len(content)
    ctx.close()
