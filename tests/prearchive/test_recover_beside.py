"""A builder starting beside others on one catalog (``scandepot dicom`` on several hosts):
its recovery takes back only what no live builder holds, and leaves a spool folder
written a moment ago, which may be another process's session not committed yet. A
running builder takes back, every so often, what a builder that died left: a session
mid-build, or built and not archived in a project that archives on its own."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import delete, select, update

from scandepot.catalog.archive import Project
from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.context import Context
from scandepot.prearchive import worker, working
from scandepot.storage import spool
from tests.notify.world import upload
from tests.prearchive.states import ready, staged_and_archived


def staged(ctx: Context) -> tuple[int, str]:
    with ctx.db.read() as db:
        row = db.scalars(select(StagedSession)).one()
        return row.id, row.status


def claimed_by_a_builder(ctx: Context, project: str) -> int:
    """A staged session a builder claimed (BUILDING), as its claim leaves it."""
    upload(ctx, project, "S1", "E1")
    staged_id, _ = staged(ctx)
    with ctx.db.write() as db:
        db.execute(update(StagedSession).values(status=Status.BUILDING))
    return staged_id


@pytest.fixture
def pilot(make_project: Callable[..., str]) -> str:
    return make_project("private", label="PILOT", upload_destination="prearchive")


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_session_another_builder_holds_is_left_to_it(ctx: Context, pilot: str) -> None:
    staged_id = claimed_by_a_builder(ctx, pilot)
    with working.on(ctx, staged_id) as held:  # a live builder, on a connection of its own
        assert held
        worker.recover(ctx)  # another process starting
        assert staged(ctx) == (staged_id, Status.BUILDING)
        with working.on(ctx, staged_id) as again:
            assert not again  # a second builder cannot take it either
        ctx.settings.prearchive_quiet_s = 0
        assert worker.run_once(ctx) == 0
    worker.recover(ctx)  # the builder is gone, and its lock with it
    assert staged(ctx) == (staged_id, Status.RECEIVING)


def test_a_session_whose_builder_died_is_built_again(ctx: Context, pilot: str) -> None:
    staged_id = claimed_by_a_builder(ctx, pilot)
    worker.recover(ctx)
    assert staged(ctx) == (staged_id, Status.RECEIVING)
    ctx.settings.prearchive_quiet_s = 0
    assert worker.run_once(ctx) == 1
    assert staged(ctx) == (staged_id, Status.READY)


def test_a_spool_folder_goes_once_its_session_is_surely_gone(ctx: Context, pilot: str) -> None:
    upload(ctx, pilot, "S1", "E1")
    archived, _ = staged(ctx)
    with ctx.db.write() as db:  # archived by a process killed before it removed the spool
        db.execute(delete(StagedSession))
    fresh = spool.folder(ctx.store, archived + 1)  # a number not drawn by a commit (yet)
    fresh.mkdir(parents=True)
    (fresh / "one.dcm").write_bytes(b"acknowledged once its row commits")
    old = spool.folder(ctx.store, archived + 2)  # and one nothing was written to for long
    old.mkdir(parents=True)
    past = time.time() - worker.SPOOL_GRACE_S - 60
    os.utime(old, (past, past))
    worker.recover(ctx)
    assert not spool.folder(ctx.store, archived).exists()
    assert (fresh / "one.dcm").is_file() and not old.exists()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_running_builder_takes_back_what_a_dead_one_left(ctx: Context, pilot: str) -> None:
    ctx.settings.prearchive_quiet_s = 3600  # nothing built but what is taken back
    builder = worker.Builder(ctx, interval=0.05, take_back_every=0.1).start()
    try:
        upload(ctx, pilot, "S1", "E1")
        staged_id, _ = staged(ctx)
        with working.on(ctx, staged_id) as held:  # another builder, alive, claims it
            assert held
            with ctx.db.write() as db:
                db.execute(update(StagedSession).values(status=Status.BUILDING))
            time.sleep(1)  # ten looks of the running builder: left to its holder
            assert staged(ctx) == (staged_id, Status.BUILDING)
            ctx.settings.prearchive_quiet_s = 0
        # Its builder gone, and its lock with it: taken back, built by the running one.
        deadline = time.monotonic() + 30
        while staged(ctx)[1] != Status.READY:
            assert time.monotonic() < deadline, staged(ctx)
            time.sleep(0.05)
    finally:
        builder.stop()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_on_sqlite_only_a_start_takes_back(ctx: Context, pilot: str) -> None:
    """One machine's processes share the catalog file, with no lock to tell a live
    builder by: a running builder leaves a BUILDING session to a start's recovery."""
    staged_id = claimed_by_a_builder(ctx, pilot)
    assert worker.take_back_abandoned(ctx) == []
    assert staged(ctx) == (staged_id, Status.BUILDING)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_session_built_and_never_archived_is_archived_by_a_running_builder(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    """Its builder died between the build and the archive, in a project that archives on
    its own: a running builder's look archives it, unless its builder is alive, or an
    archive asked for by hand holds its row (left at once, not waited for)."""
    auto = make_project("private", label="AUTO", upload_destination="archive")
    ctx.settings.prearchive_quiet_s = 3600
    upload(ctx, auto, "S1", "E1")
    staged_id, _ = staged(ctx)
    ready(ctx, staged_id)
    with working.on(ctx, staged_id) as held:  # its builder, alive, about to archive it
        assert held
        assert worker.take_back_abandoned(ctx) == []
    with ctx.db.engine.connect() as archiving:  # an archive by hand: the row held
        archiving.execute(
            select(StagedSession.id).where(StagedSession.id == staged_id).with_for_update()
        )
        looks: list[list[int]] = []
        look = threading.Thread(target=lambda: looks.append(worker.take_back_abandoned(ctx)))
        look.start()
        look.join(timeout=10)
        archiving.rollback()  # the archive ends (a look that waited for it goes on now)
        look.join()
        assert looks == [[]], "the look waited for the archive's row, or took it back"
    assert staged(ctx) == (staged_id, Status.READY)
    assert worker.take_back_abandoned(ctx) == [staged_id]
    ctx.settings.prearchive_quiet_s = 0
    assert worker.run_once(ctx) == 1
    assert staged_and_archived(ctx) == (0, 1)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_ready_session_held_for_an_archive_request_stays(ctx: Context, pilot: str) -> None:
    """What is not a builder's to archive is not taken back: a session held for an
    explicit archive request, and one of a project that keeps sessions in the
    prearchive."""
    upload(ctx, pilot, "S1", "E1")
    staged_id, _ = staged(ctx)
    ready(ctx, staged_id)
    assert worker.take_back_abandoned(ctx) == []
    with ctx.db.write() as db:
        db.execute(
            update(Project).where(Project.label == pilot).values(upload_destination="archive")
        )
        db.execute(update(StagedSession).values(hold=True))
    assert worker.take_back_abandoned(ctx) == []
    assert staged(ctx) == (staged_id, Status.READY)
