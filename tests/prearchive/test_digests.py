"""Checksums of instances received over DICOM: left out on arrival, filled in by the build,
by archiving, and by the arrival of another copy to compare."""

from __future__ import annotations

import hashlib
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.archive.check import check
from scandepot.catalog.archive import File
from scandepot.catalog.prearchive import Instance, StagedSession, Status
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from scandepot.prearchive import archiver, digests, worker
from tests.helpers import Clock, write_study

Send = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.interop


def staged_rows(ctx: Context) -> list[Instance]:
    with ctx.db.read() as db:
        return list(db.scalars(select(Instance).where(Instance.staged_id.is_not(None))))


def assert_hashed(ctx: Context, rows: list[Instance]) -> None:
    """Every row's checksums are those of its spool file as it is on disk."""
    assert rows
    for row in rows:
        data = (ctx.store.data_dir / str(row.spool_path)).read_bytes()
        assert (row.md5, row.sha256, row.crc32) == (
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
            hashlib.sha256(data).hexdigest(),
            zlib.crc32(data),
        )


@pytest.fixture
def review(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 0
    return make_project("private", label="REVIEW", upload_destination="prearchive")


def test_arrivals_are_hashed_when_their_session_is_built(
    ctx: Context, storescu: Send, review: str, tmp_path: Path
) -> None:
    files = write_study(tmp_path, Study(StudyDescription="xnat://REVIEW/s1/e1"), [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    rows = staged_rows(ctx)
    assert len(rows) == len(files)
    assert {(r.md5, r.sha256) for r in rows} == {(None, None)}
    assert worker.run_once(ctx) == 1
    assert_hashed(ctx, staged_rows(ctx))


def test_a_session_that_stopped_receiving_is_hashed_while_it_waits(
    ctx: Context, storescu: Send, review: str, tmp_path: Path
) -> None:
    ctx.settings.prearchive_quiet_s = 60
    files = write_study(tmp_path, Study(StudyDescription="xnat://REVIEW/s1/e1"), [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    with ctx.db.read() as db:
        last = db.scalar(select(StagedSession.last_received_at))
    clock = Clock(last)  # the moment the last instance arrived
    assert worker.hash_settled(ctx, clock=clock) == 0  # still receiving, as far as anyone knows
    clock.advance(worker.SETTLE_S)
    assert worker.run_once(ctx, clock=clock) == 0  # nothing built: the quiet time has not passed
    rows = staged_rows(ctx)
    assert_hashed(ctx, rows)
    with ctx.db.read() as db:
        assert db.scalar(select(StagedSession.status)) == Status.RECEIVING


def test_a_copy_arriving_before_the_build_is_compared_by_its_bytes(
    ctx: Context, storescu: Send, review: str, tmp_path: Path
) -> None:
    files = write_study(tmp_path, Study(StudyDescription="xnat://REVIEW/s1/e1"), [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    assert storescu(*files).returncode == 0  # the same bytes again: nothing added
    rows = staged_rows(ctx)
    assert len(rows) == len(files)
    assert_hashed(ctx, rows)  # hashed to be compared, and recorded


def test_archiving_before_the_build_hashes_what_it_archives(
    ctx: Context, storescu: Send, review: str, tmp_path: Path
) -> None:
    files = write_study(tmp_path, Study(StudyDescription="xnat://REVIEW/s1/e1"), [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    [row] = {r.staged_id for r in staged_rows(ctx)}
    assert row is not None
    done = archiver.archive(ctx, SYSTEM, row)
    assert done.files == len(files)
    with ctx.db.read() as db:
        recorded = db.scalars(select(File)).all()
    assert len(recorded) == len(files) and all(f.md5 and f.sha256 for f in recorded)
    # The CRC-32 a zip download puts ahead of each file's bytes (APPNOTE 4.4.7).
    on_disk = {p.name: zlib.crc32(p.read_bytes()) for p in ctx.store.archive.rglob("*.dcm")}
    assert {f.path: f.crc32 for f in recorded} == on_disk
    report = check(ctx, checksums=True)
    assert report.checked == len(files) and report.ok, report


def test_archiving_hashes_arrivals_it_finds_without_checksums(
    ctx: Context,
    storescu: Send,
    review: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An instance arriving between the archive's filling in and its transaction."""
    files = write_study(tmp_path, Study(StudyDescription="xnat://REVIEW/s1/e1"), [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    [staged_id] = {r.staged_id for r in staged_rows(ctx)}
    assert staged_id is not None
    monkeypatch.setattr(digests, "complete", lambda _ctx, _id: 0)
    assert archiver.archive(ctx, SYSTEM, staged_id).files == len(files)
    assert check(ctx, checksums=True).ok


def test_a_spool_file_that_lost_bytes_fails_the_build_clearly(
    ctx: Context, storescu: Send, review: str, tmp_path: Path
) -> None:
    files = write_study(tmp_path, Study(StudyDescription="xnat://REVIEW/s1/e1"), [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    victim = staged_rows(ctx)[0]
    spool = ctx.store.data_dir / str(victim.spool_path)
    spool.write_bytes(spool.read_bytes()[:-10])
    worker.run_once(ctx)
    with ctx.db.read() as db:
        [session] = db.scalars(select(StagedSession)).all()
    assert session.status == Status.ERROR
    assert any(f"holds {victim.size - 10} bytes; {victim.size} were" in p for p in session.problems)
    # No checksum was recorded from the damaged bytes.
    [after] = [r for r in staged_rows(ctx) if r.id == victim.id]
    assert after.sha256 is None
