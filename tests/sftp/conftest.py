"""One SFTP server for a test module, pointed at each test's context in turn, and the
two real clients that talk to it: OpenSSH's ``sftp`` (batch mode, key sign-in) and
paramiko (password or key)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import paramiko
import pytest

from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from scandepot.db.engine import Database
from scandepot.ingest import drop_accounts, ssh_keys
from scandepot.ingest.drop_accounts import DropAccountCreate
from scandepot.settings import Settings
from scandepot.sftp.server import SftpServer
from scandepot.storage.store import FileStore

SFTP = "/usr/bin/sftp"
DROP_PASSWORD = "drop-password-1"


@dataclass(frozen=True)
class Key:
    path: Path  # the private key file, for OpenSSH's -i
    line: str  # the public key line, to register


def _key(folder: Path, name: str) -> Key:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = folder / name
    path.write_bytes(key.export_private_key("openssh"))
    path.chmod(0o600)
    return Key(path, key.export_public_key("openssh").decode().strip())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Key]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: _key(folder, name) for name in ("drop", "collaborator", "outsider", "other")}


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory: pytest.TempPathFactory, sqlite_url: str) -> Iterator[SftpServer]:
    """Started once for the module on a free loopback port; each test points it at its
    own context (``sftp``)."""
    data = tmp_path_factory.mktemp("sftp-data")
    first = Context(
        Settings(data_dir=data, database_url=sqlite_url), Database(sqlite_url), FileStore(data)
    )
    first.store.ensure()
    server = SftpServer(first, port=0).start()
    yield server
    server.stop()
    first.close()


@pytest.fixture
def sftp(sftp_server: SftpServer, ctx: Context) -> SftpServer:
    sftp_server.ctx = ctx
    return sftp_server


@pytest.fixture
def drop_account(ctx: Context, make_project: Callable[..., str], keys: dict[str, Key]) -> str:
    """Project P001 (private) with a drop account that has a password and a key."""
    project = make_project()
    data = DropAccountCreate(
        name="scanner", password=DROP_PASSWORD, public_keys=[keys["drop"].line]
    )
    view, _ = drop_accounts.create(ctx, SYSTEM, project, data)
    ssh_keys.add_key(ctx, SYSTEM, "collaborator", keys["collaborator"].line)
    ssh_keys.add_key(ctx, SYSTEM, "outsider", keys["outsider"].line)
    return view.username


def run_sftp(
    server: SftpServer, user: str, key: Key, commands: str, *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """OpenSSH's sftp in batch mode: stops at the first command that fails (exit 1)."""
    return subprocess.run(
        [
            SFTP,
            "-b",
            "-",
            "-P",
            str(server.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "LogLevel=ERROR",
            "-i",
            str(key.path),
            f"{user}@127.0.0.1",
        ],
        input=commands,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def paramiko_client(
    server: SftpServer, user: str, *, password: str | None = None, key: Key | None = None
) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1",
        port=server.port,
        username=user,
        password=password,
        key_filename=str(key.path) if key else None,
        look_for_keys=False,
        allow_agent=False,
        timeout=30,
    )
    return client
