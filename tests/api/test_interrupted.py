"""A write that fails half-way leaves no catalog row and no visible file."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from scandepot.archive.check import check
from scandepot.catalog.archive import File
from scandepot.context import Context
from scandepot.storage.store import Disk, FileStore
from tests.helpers import ADMIN, create_tree, scan_files_url


def files_in_catalog(ctx: Context) -> int:
    with ctx.db.read() as db:
        return db.scalar(select(func.count(File.id))) or 0


def visible_files(ctx: Context) -> list[str]:
    return [str(p) for p in ctx.store.archive.rglob("*") if p.is_file()]


@pytest.fixture
def tree(client: TestClient, users: object) -> None:
    create_tree(client)


class FailingDisk(Disk):
    """A device that takes half of the first write, then fails."""

    def write(self, fd: int, data: memoryview) -> int:
        super().write(fd, data[: len(data) // 2])
        raise OSError(errno.EIO, "Input/output error on the device")


def test_crash_while_writing_bytes(client: TestClient, ctx: Context, tree: None) -> None:
    ctx.store = FileStore(ctx.store.data_dir, disk=FailingDisk())
    client_no_raise = TestClient(client.app, raise_server_exceptions=False)

    def body():  # type: ignore[no-untyped-def]
        for _ in range(4):
            yield b"x" * (2 * 1024 * 1024)

    r = client_no_raise.put(f"{scan_files_url()}/a.dcm", content=body(), auth=ADMIN)
    assert r.status_code == 500
    assert "Input/output" not in r.text and "Traceback" not in r.text
    assert files_in_catalog(ctx) == 0
    assert visible_files(ctx) == []
    assert list(ctx.store.tmp.iterdir()) == []


def test_crash_between_rename_and_commit(client: TestClient, ctx: Context, tree: None) -> None:
    client.put(f"{scan_files_url()}/keep.dcm", content=b"old", auth=ADMIN)

    def failing_commit(_connection: Any) -> None:
        raise OSError("connection to the database lost")

    # The database's own commit fails, whichever way the service reaches it.
    event.listen(ctx.db.engine, "commit", failing_commit)
    try:
        client_no_raise = TestClient(client.app, raise_server_exceptions=False)
        r = client_no_raise.put(f"{scan_files_url()}/new.dcm", content=b"new", auth=ADMIN)
        assert r.status_code == 500
        # Overwrite: the replaced bytes come back when the catalog change fails.
        r = client_no_raise.put(
            f"{scan_files_url()}/keep.dcm?overwrite=true", content=b"newer", auth=ADMIN
        )
        assert r.status_code == 500
    finally:
        event.remove(ctx.db.engine, "commit", failing_commit)

    assert files_in_catalog(ctx) == 1
    assert [p.rsplit("/", 1)[1] for p in visible_files(ctx)] == ["keep.dcm"]
    assert client.get(f"{scan_files_url()}/keep.dcm", auth=ADMIN).content == b"old"
    assert list(ctx.store.tmp.iterdir()) == []
    assert check(ctx).ok


def test_client_disconnect_mid_upload(client: TestClient, ctx: Context, tree: None) -> None:
    def body():  # type: ignore[no-untyped-def]
        yield b"x" * 1024 * 1024
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        client.put(f"{scan_files_url()}/a.dcm", content=body(), auth=ADMIN)
    assert files_in_catalog(ctx) == 0
    assert visible_files(ctx) == []
