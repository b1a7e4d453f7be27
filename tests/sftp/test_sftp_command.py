"""`scandepot sftp`: the SFTP server alone, as a process, against the data folder and
catalog of its settings, until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.cli.common import open_context
from scandepot.ingest import drop_accounts, drops
from scandepot.ingest.drop_accounts import DropAccountCreate
from scandepot.settings import Settings
from tests.serve_process import free_port

pytestmark = pytest.mark.interop


def test_scandepot_sftp_runs_the_server_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ctx = open_context(Settings(data_dir=data, admin_password="x" * 12))
    projects.create(ctx, SYSTEM, ProjectCreate(id="ALONE"))
    account = DropAccountCreate(name="console", password="console-pass")
    drop_accounts.create(ctx, SYSTEM, "ALONE", account)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    command = [sys.executable, "-m", "scandepot", "sftp", "--data-dir", str(data)]
    with subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    ) as server:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"SFTP on 127.0.0.1:{port}"
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        deadline = time.monotonic() + 30
        client.connect(
            "127.0.0.1",
            port=port,
            username="ALONE+console",
            password="console-pass",
            look_for_keys=False,
            allow_agent=False,
            timeout=max(1.0, deadline - time.monotonic()),
        )
        with client, client.open_sftp().open("/log.txt", "wb") as fh:
            fh.write(b"alone")
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert (drops.project_dir(ctx, "ALONE") / "log.txt").read_bytes() == b"alone"
    assert [d.path for d in drops.unmatched_drops(ctx)] == ["log.txt"]
    ctx.close()
