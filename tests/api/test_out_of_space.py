"""A full disk during a file PUT or an archive import: 507 saying so, nothing left behind."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scandepot.catalog.archive import File
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from scandepot.storage.store import Disk, FileStore
from tests.helpers import ADMIN, API, create_tree, scan_files_url, write_study
from tests.ingest.test_upload import zip_dir


class FullDisk(Disk):
    """A device with room for ``room`` more writes; each one after fails with ENOSPC, as a
    full file system's does."""

    def __init__(self, room: int = 0) -> None:
        self.room = room

    def write(self, fd: int, data: memoryview) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return super().write(fd, data)


def fill_disk(ctx: Context, *, room: int = 0) -> FullDisk:
    """The store's files go to a disk with room for ``room`` more writes from now on."""
    disk = FullDisk(room)
    ctx.store = FileStore(ctx.store.data_dir, disk=disk)
    return disk


def leftovers(ctx: Context) -> list[Path]:
    return [p for p in ctx.store.data_dir.rglob("*") if p.is_file()]


def assert_out_of_space(r: Any) -> None:
    assert r.status_code == 507, r.text
    error = r.json()["error"]
    assert error["code"] == "insufficient_storage"
    assert "out of storage space" in error["message"]


def test_a_file_put_on_a_full_disk(client: TestClient, ctx: Context, users: object) -> None:
    create_tree(client)
    before = leftovers(ctx)
    disk = fill_disk(ctx)
    r = client.put(f"{scan_files_url()}/a.dcm", content=b"x" * 3_000_000, auth=ADMIN)
    assert_out_of_space(r)
    assert leftovers(ctx) == before
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(File.id))) == 0
    disk.room = 1000  # space freed: the same request now succeeds
    r = client.put(f"{scan_files_url()}/a.dcm", content=b"x" * 3_000_000, auth=ADMIN)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("after", [0, 3], ids=["body", "unpacking"])
def test_an_import_on_a_full_disk(
    client: TestClient,
    ctx: Context,
    make_project: Callable[..., str],
    tmp_path: Path,
    after: int,
) -> None:
    """The disk fills while the body arrives, or later while its members are unpacked."""
    make_project("private", label="PILOT")
    root = tmp_path / "src"
    write_study(root, Study(), [Series(1, "T1w")], per_series=4, size=256)
    body = zip_dir(root, tmp_path / "up.zip")
    before = leftovers(ctx)
    disk = fill_disk(ctx, room=after)
    r = client.post(f"{API}/projects/PILOT/import", content=body, auth=ADMIN)
    assert_out_of_space(r)
    assert disk.room == 0
    assert leftovers(ctx) == before
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Instance.id))) == 0
