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
from tests.helpers import ADMIN, API, create_tree, scan_files_url, write_study
from tests.ingest.test_upload import zip_dir


def fill_disk(monkeypatch: pytest.MonkeyPatch, ctx: Context, *, after: int = 0) -> list[int]:
    """Let ``after`` writes into the store's temporary folder through, then fail each one
    with ENOSPC, as a full file system does; writes elsewhere are untouched."""
    real = os.write
    allowed = [after]

    def write(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(ctx.store.tmp)):
            if allowed[0] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            allowed[0] -= 1
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)
    return allowed


def leftovers(ctx: Context) -> list[Path]:
    return [p for p in ctx.store.data_dir.rglob("*") if p.is_file()]


def assert_out_of_space(r: Any) -> None:
    assert r.status_code == 507, r.text
    error = r.json()["error"]
    assert error["code"] == "insufficient_storage"
    assert "out of storage space" in error["message"]


def test_a_file_put_on_a_full_disk(
    client: TestClient, ctx: Context, users: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_tree(client)
    before = leftovers(ctx)
    fill_disk(monkeypatch, ctx)
    r = client.put(f"{scan_files_url()}/a.dcm", content=b"x" * 3_000_000, auth=ADMIN)
    assert_out_of_space(r)
    assert leftovers(ctx) == before
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(File.id))) == 0
    monkeypatch.undo()  # space freed: the same request now succeeds
    r = client.put(f"{scan_files_url()}/a.dcm", content=b"x" * 3_000_000, auth=ADMIN)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("after", [0, 3], ids=["body", "unpacking"])
def test_an_import_on_a_full_disk(
    client: TestClient,
    ctx: Context,
    make_project: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    after: int,
) -> None:
    """The disk fills while the body arrives, or later while its members are unpacked."""
    make_project("private", label="PILOT")
    root = tmp_path / "src"
    write_study(root, Study(), [Series(1, "T1w")], per_series=4, size=256)
    body = zip_dir(root, tmp_path / "up.zip")
    before = leftovers(ctx)
    allowed = fill_disk(monkeypatch, ctx, after=after)
    r = client.post(f"{API}/projects/PILOT/import", content=body, auth=ADMIN)
    assert_out_of_space(r)
    assert allowed == [0]
    assert leftovers(ctx) == before
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Instance.id))) == 0
