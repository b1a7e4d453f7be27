"""The receiver's fast path: group commit and per-association placements, on SQLite and
PostgreSQL. With real senders at once: test_concurrent_senders.py; the lean header scan:
tests/dicom/test_lean_scan.py."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from typing import Any

import pytest
from pydicom import Dataset
from pynetdicom import AE
from pynetdicom.association import Association as ScuAssociation
from pynetdicom.sop_class import MRImageStorage
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.context import Context
from scandepot.dicom import headers
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.dimse import Receiver
from scandepot.ingest.group import GroupCommit
from scandepot.ingest.receive import Incoming, Placements, Received, Source, file_batch
from scandepot.prearchive import operations, worker


def rows(ctx: Context) -> list[Instance]:
    with ctx.db.read() as db:
        return list(db.scalars(select(Instance).order_by(Instance.id)))


def staged_ids(ctx: Context) -> list[int]:
    with ctx.db.read() as db:
        return list(db.scalars(select(StagedSession.id).order_by(StagedSession.id)))


def staged_rows(ctx: Context) -> list[tuple[int, Any]]:
    """(ID, creation time) of each staged session: SQLite may give a new one the ID of
    one deleted before it."""
    with ctx.db.read() as db:
        found = db.execute(
            select(StagedSession.id, StagedSession.created_at).order_by(StagedSession.id)
        )
        return [(r.id, r.created_at) for r in found]


def assert_whole(ctx: Context) -> None:
    """Every catalogued spool file is there with the catalogued size (and checksum, once
    computed: DICOM arrivals get theirs when their session is built); tmp/ is empty."""
    for row in rows(ctx):
        if row.spool_path is None:
            continue
        data = (ctx.store.data_dir / row.spool_path).read_bytes()
        assert len(data) == row.size
        assert row.sha256 in (None, hashlib.sha256(data).hexdigest())
    assert list(ctx.store.tmp.iterdir()) == []


def incoming(ctx: Context, ds: Dataset, placements: Placements | None = None) -> Incoming:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    staged = ctx.store.stage()
    staged.write(buffer.getvalue())
    staged.seal()
    header = headers.read_header(staged.tmp_path)
    return Incoming(staged, Source("dicom", calling_ae="TEST"), header, placements)


# -- group commit ---------------------------------------------------------------------


def test_group_commit_files_waiting_instances_in_one_transaction(ctx: Context) -> None:
    """While one batch is filed, instances from other associations queue and go in the
    next batch together; each sender learns its own result only once that has committed."""
    study = Study()
    series = [Series(n, f"series {n}") for n in range(1, 5)]
    items = [incoming(ctx, mr_instance(study, s, 1, rows=8, columns=8)) for s in series]
    batches: list[list[Incoming]] = []
    first_started, release = threading.Event(), threading.Event()

    def slow_first(c: Context, batch: list[Incoming]) -> None:
        batches.append(list(batch))
        if len(batches) == 1:
            first_started.set()
            assert release.wait(10)
        file_batch(c, batch)

    committer = GroupCommit(ctx, filing=slow_first)
    results: dict[int, Received] = {}

    def send(i: int) -> None:
        results[i] = committer.file(items[i])

    leader = threading.Thread(target=send, args=(0,))
    leader.start()
    assert first_started.wait(10)
    others = [threading.Thread(target=send, args=(i,)) for i in (1, 2, 3)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while committer.queued < 3:  # all three wait for the next transaction
        assert time.monotonic() < deadline, committer.queued
        threading.Event().wait(0.01)
    assert results == {}
    release.set()
    for t in [leader, *others]:
        t.join(10)
    assert [len(b) for b in batches] == [1, 3]
    assert committer.batches == 2 and committer.largest == 3
    assert {r.duplicate for r in results.values()} == {False}
    assert len({r.staged_id for r in results.values()}) == 1  # one study, one session
    for item in items:
        item.staged.discard()
    assert len(rows(ctx)) == 4
    assert_whole(ctx)


def test_one_bad_instance_in_a_batch_costs_only_itself(ctx: Context) -> None:
    study = Study()
    good = [incoming(ctx, mr_instance(study, Series(1), n, rows=8, columns=8)) for n in (1, 2)]
    bad = incoming(ctx, mr_instance(study, Series(2), 1, rows=8, columns=8))
    bad.staged.discard()  # its bytes are gone: linking it fails
    batch = [good[0], bad, good[1]]
    file_batch(ctx, batch)
    assert bad.error is not None and bad.result is None
    assert all(i.error is None and i.result is not None for i in good)
    for item in batch:
        item.staged.discard()
    assert {r.SOPInstanceUID for r in rows(ctx)} == {i.header.SOPInstanceUID for i in good}
    assert_whole(ctx)


# -- placements, with the staged session changed in the middle of an association ------


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 0
    return make_project("private", label="PILOT", upload_destination="archive")


@pytest.fixture
def scu(receiver: Receiver) -> Iterator[ScuAssociation]:
    ae = AE(ae_title="SCANNER1")
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
    assert assoc.is_established
    yield assoc
    if assoc.is_established:
        assoc.release()


def store(assoc: ScuAssociation, ds: Dataset) -> None:
    status = assoc.send_c_store(ds)
    assert status.Status == 0x0000


def test_a_session_archived_mid_association_is_not_reused(
    ctx: Context, pilot: str, scu: ScuAssociation
) -> None:
    study, series = Study(StudyDescription="xnat://PILOT/s1/e1"), Series(1)
    first = mr_instance(study, series, 1, rows=8, columns=8)
    store(scu, first)
    [before] = staged_rows(ctx)
    worker.run_once(ctx)  # builds and auto-archives: the staged session is gone
    assert staged_ids(ctx) == []
    store(scu, first)  # the very instance archived: nothing new
    assert staged_ids(ctx) == []
    store(scu, mr_instance(study, series, 2, rows=8, columns=8))
    [after] = staged_rows(ctx)
    assert after != before
    spooled = [r for r in rows(ctx) if r.staged_id is not None]
    assert [(r.InstanceNumber, r.staged_id) for r in spooled] == [(2, after[0])]
    scu.release()
    assert_whole(ctx)


def test_a_session_deleted_or_moved_mid_association_is_not_reused(
    ctx: Context, pilot: str, make_project: Callable[..., str], scu: ScuAssociation
) -> None:
    study, series = Study(StudyDescription="xnat://PILOT/s1/e1"), Series(1)
    store(scu, mr_instance(study, series, 1, rows=8, columns=8))
    [first] = staged_rows(ctx)
    operations.delete(ctx, SYSTEM, first[0])
    store(scu, mr_instance(study, series, 2, rows=8, columns=8))
    [(second, created)] = staged_rows(ctx)
    assert (second, created) != first
    assert [(r.InstanceNumber, r.staged_id) for r in rows(ctx)] == [(2, second)]

    other = make_project("private", label="OTHER")
    operations.relabel(ctx, SYSTEM, second, operations.Relabel(project=other))
    store(scu, mr_instance(study, series, 3, rows=8, columns=8))
    with ctx.db.read() as db:
        sessions = {s.project_key: s.id for s in db.scalars(select(StagedSession))}
        where = {r.InstanceNumber: r.staged_id for r in db.scalars(select(Instance))}
    # The moved session keeps what it had; the new instance routed to PILOT opens a new one.
    assert sessions["OTHER"] == second
    assert where == {2: second, 3: sessions["PILOT"]}
    assert sessions["PILOT"] != second
    scu.release()
    assert_whole(ctx)


def test_placements_are_looked_up_once_per_study(ctx: Context, pilot: str) -> None:
    study, series = Study(StudyDescription="xnat://PILOT/s1/e1"), Series(1)
    placements = Placements()
    for n in (1, 2, 3):
        item = incoming(ctx, mr_instance(study, series, n, rows=8, columns=8), placements)
        file_batch(ctx, [item])
        item.staged.discard()
        cached = placements.get("PILOT", study.StudyInstanceUID)
        assert cached is not None and cached.staged_id == item.result.staged_id  # type: ignore[union-attr]
        assert series.SeriesInstanceUID in cached.clean_series
    assert len(rows(ctx)) == 3
    assert_whole(ctx)
