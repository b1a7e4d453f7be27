"""Drops settled after their closes were answered (ingest/drop_settler.py): fsynced and
catalogued in batches, nothing answered undone, retried when the catalog fails, and
settled at the next start when the process that answered them died first."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.catalog.drops import DropItem
from scandepot.context import Context
from scandepot.ingest import drop_matching, drop_pending, drop_settler, drops
from scandepot.ingest.drop_matching import DropRuleSet
from scandepot.ingest.drop_quota import QuotaExceeded
from scandepot.ingest.drops import Closed, Upload
from scandepot.ingest.sftp_signin import DropPrincipal
from scandepot.storage.store import file_digest


def _upload(ctx: Context, who: DropPrincipal, name: str, data: bytes) -> Upload:
    upload = drops.begin(ctx, who, (name,))
    upload.write(0, data)
    return upload


def _rows(ctx: Context) -> dict[str, DropItem]:
    with ctx.db.read() as db:
        return {i.path: i for i in db.scalars(select(DropItem).order_by(DropItem.id))}


@pytest.fixture
def settler() -> Iterator[drop_settler.Settler]:
    running = drop_settler.Settler().start()
    yield running
    running.stop()


def test_a_close_names_the_file_and_the_settler_catalogues_it(
    ctx: Context, project: str, who: DropPrincipal, settler: drop_settler.Settler
) -> None:
    closed = _upload(ctx, who, "resp.log", b"r" * 5000).close()
    dest = drops.project_dir(ctx, project) / "resp.log"
    assert dest.read_bytes() == b"r" * 5000
    mark = drop_pending.read(dest)
    assert mark is not None and (mark.size, mark.pid) == (5000, os.getpid())
    assert _rows(ctx) == {}  # not yet seen by scandepot
    settler.submit(closed)
    assert settler.wait(timeout=30)
    row = _rows(ctx)["resp.log"]
    digest = file_digest(dest)
    assert (row.size, row.md5, row.sha256, row.account_id) == (
        5000,
        digest.md5,
        digest.sha256,
        who.account_id,
    )
    assert drop_pending.read(dest) is None
    assert list(ctx.store.tmp.iterdir()) == []


def test_a_batch_settles_the_rest_when_files_or_projects_went(
    ctx: Context,
    project: str,
    who: DropPrincipal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = _upload(ctx, who, "a.raw", b"a" * 10).close()
    removed = _upload(ctx, who, "b.raw", b"b" * 10).close()
    third = _upload(ctx, who, "c.raw", b"c" * 10).close()
    removed.dest.unlink()  # removed by hand before it was kept
    with caplog.at_level(logging.WARNING, logger="scandepot.drops"):
        ids = drop_settler.settle([first, removed, third], strict=False)
    assert ids[1] is None and None not in (ids[0], ids[2])
    assert sorted(_rows(ctx)) == ["a.raw", "c.raw"]
    assert "b.raw" in caplog.text
    # A project deleted between the close and the settling: its file goes, as its
    # other drops did; nothing of it is catalogued.
    late = _upload(ctx, who, "late.raw", b"l" * 10).close()
    projects.delete(ctx, SYSTEM, project, recursive=True)
    assert drop_settler.settle([late], strict=False) == [None]
    assert not late.dest.exists()
    assert _rows(ctx) == {}


def test_over_the_quota_after_the_answer_the_file_is_kept(
    ctx: Context, project: str, who: DropPrincipal, caplog: pytest.LogCaptureFixture
) -> None:
    drop_matching.set_rule(ctx, SYSTEM, project, DropRuleSet(quota_bytes=1000))
    closed = _upload(ctx, who, "mine.raw", b"m" * 600).close()
    refused = _upload(ctx, who, "next.raw", b"n" * 10)  # its close not yet answered
    # Another process catalogues a file meanwhile; its bytes were not counted here.
    with ctx.db.write() as db:
        db.add(DropItem(project_id=who.project_id, path="theirs.raw", size=600, md5="", sha256=""))
    with caplog.at_level(logging.WARNING, logger="scandepot.drops"):
        [drop_id] = drop_settler.settle([closed], strict=False)
    assert drop_id is not None and closed.dest.exists()
    assert "over the quota" in caplog.text
    # A close not yet answered is refused instead, and its file goes.
    with pytest.raises(QuotaExceeded):
        drop_settler.finish(refused)
    assert not (closed.folder / "next.raw").exists()


def test_the_settler_tries_again_while_the_catalog_fails(
    ctx: Context,
    project: str,
    who: DropPrincipal,
    settler: drop_settler.Settler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = drop_settler._catalogue
    failures = []

    def failing_twice(ctx: Context, batch: list[Closed], *, strict: bool) -> list[int | None]:
        if len(failures) < 2:
            failures.append(len(batch))
            raise OperationalError("INSERT", {}, Exception("the catalog is away"))
        return real(ctx, batch, strict=strict)

    monkeypatch.setattr(drop_settler, "_catalogue", failing_twice)
    closed = _upload(ctx, who, "resp.log", b"r" * 100).close()
    settler.submit(closed)
    assert settler.wait(timeout=30)
    assert failures == [1, 1]
    assert list(_rows(ctx)) == ["resp.log"]
    assert drop_pending.read(closed.dest) is None


def _closed_by_a_process_that_dies(upload: Upload) -> None:
    """The close answered by another process, which ends before settling it."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 0
        try:
            upload.close()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    upload.abort()  # this process's copy: its temporary file went with the child's close


def test_the_next_start_settles_what_a_dead_process_answered(
    ctx: Context, project: str, who: DropPrincipal, caplog: pytest.LogCaptureFixture
) -> None:
    folder = drops.project_dir(ctx, project)
    _closed_by_a_process_that_dies(_upload(ctx, who, "kept.raw", b"k" * 3000))
    _closed_by_a_process_that_dies(_upload(ctx, who, "cut.raw", b"c" * 3000))
    # The machine crashed before the second one's bytes reached the disk.
    os.truncate(folder / "cut.raw", 1000)
    # One this process answered and is settling: not taken over.
    mine = _upload(ctx, who, "mine.raw", b"m" * 10).close()
    with caplog.at_level(logging.ERROR, logger="scandepot.drops"):
        assert drop_settler.recover(ctx) == 1
    rows = _rows(ctx)
    assert list(rows) == ["kept.raw"]
    assert rows["kept.raw"].sha256 == file_digest(folder / "kept.raw").sha256
    assert drop_pending.read(folder / "kept.raw") is None
    assert not (folder / "cut.raw").exists()
    assert "cut.raw" in caplog.text and "lost" in caplog.text
    assert drop_pending.read(mine.dest) is not None
    # Catalogued, but the mark still there (the process died between): not twice.
    drop_settler.settle([mine], strict=False)
    drop_pending.mark(mine.dest, file_digest(mine.dest), who.account_id)
    os.utime(mine.dest, (0, 0))  # long past the time a live process is given
    assert drop_settler.recover(ctx) == 0
    assert sorted(_rows(ctx)) == ["kept.raw", "mine.raw"]
    assert drop_pending.read(mine.dest) is None


def test_a_pending_mark_says_what_the_close_saw(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 7)
    assert drop_pending.read(path) is None
    drop_pending.mark(path, file_digest(path), 42)
    mark = drop_pending.read(path)
    assert mark is not None
    assert (mark.size, mark.sha256, mark.account_id) == (7, file_digest(path).sha256, 42)
    assert mark.owner_alive()
    drop_pending.unmark(path)
    drop_pending.unmark(path)  # twice: no error
    assert drop_pending.read(path) is None
    os.setxattr(path, drop_pending.NAME, b"not json")
    assert drop_pending.read(path) is None


def test_settling_again_what_was_committed_adds_no_row(
    ctx: Context, project: str, who: DropPrincipal
) -> None:
    """A try whose commit went through though its answer was lost is tried again."""
    closed = _upload(ctx, who, "once.raw", b"o" * 10).close()
    first = drop_settler.settle([closed], strict=False)
    assert drop_settler.settle([closed], strict=False) == first
    assert list(_rows(ctx)) == ["once.raw"]
