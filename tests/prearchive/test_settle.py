"""The one wait for a staged session a builder holds, and one build on each path to the
archive (the archiver follows the plan the build recorded, checking the archive again)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import update

from scandepot.access.actors import SYSTEM
from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.errors import Conflict
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import archiver, builder, operations, settle, worker


def stage(ctx: Context, study: Study, *, project: str = "PILOT", subject: str = "S1") -> int:
    staged_id = None
    for number in (1, 2):
        ds = mr_instance(study, Series(), number, rows=8, columns=8)
        with ctx.store.stage() as staged:
            staged.write(to_bytes(ds))
            got = receive(ctx, staged, Source("upload", project=project, subject=subject))
        staged_id = got.staged_id
    assert staged_id is not None
    return staged_id


def set_status(ctx: Context, staged_id: int, status: Status) -> None:
    with ctx.db.write() as db:
        db.execute(update(StagedSession).where(StagedSession.id == staged_id).values(status=status))


def status_of(ctx: Context, staged_id: int) -> str | None:
    with ctx.db.read() as db:
        staged = db.get(StagedSession, staged_id)
        return None if staged is None else staged.status


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    return make_project("private", label="PILOT", upload_destination="prearchive")


def test_a_waiter_gets_the_session_when_the_builder_lets_it_go(ctx: Context, pilot: str) -> None:
    staged_id = stage(ctx, Study())
    set_status(ctx, staged_id, Status.BUILDING)
    got: list[str] = []

    def wait() -> None:
        with settle.settled(ctx, staged_id, timeout=30) as (_db, staged):
            assert staged is not None
            got.append(staged.status)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    assert got == []  # still held by the builder
    set_status(ctx, staged_id, Status.READY)
    settle.let_go()
    waiter.join(timeout=10)
    assert got == [Status.READY]


def test_a_builder_that_never_lets_go_is_a_conflict_after_the_timeout(
    ctx: Context, pilot: str
) -> None:
    staged_id = stage(ctx, Study())
    set_status(ctx, staged_id, Status.BUILDING)
    with pytest.raises(Conflict, match="busy"), settle.settled(ctx, staged_id, timeout=0.3):
        pytest.fail("the session was handed over while a builder held it")


def test_a_session_gone_is_handed_over_as_none(ctx: Context, pilot: str) -> None:
    staged_id = stage(ctx, Study())
    operations.delete(ctx, SYSTEM, staged_id)
    with settle.settled(ctx, staged_id) as (_db, staged):
        assert staged is None


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The staged sessions planned (a build), in order."""
    seen: list[int] = []
    real = builder.plan

    def counted(db, staged):  # type: ignore[no-untyped-def]
        seen.append(staged.id)
        return real(db, staged)

    monkeypatch.setattr(builder, "plan", counted)
    return seen


def test_the_builder_builds_once_then_archives_by_that_plan(
    ctx: Context, make_project: Callable[..., str], plans: list[int]
) -> None:
    make_project("private", label="PILOT", upload_destination="archive")
    ctx.settings.prearchive_quiet_s = 0
    staged_id = stage(ctx, Study())
    assert worker.run_once(ctx) == 1
    assert status_of(ctx, staged_id) is None  # archived
    assert plans == [staged_id]


def test_a_relabel_after_the_build_is_what_is_archived(
    ctx: Context, pilot: str, plans: list[int]
) -> None:
    ctx.settings.prearchive_quiet_s = 0
    staged_id = stage(ctx, Study())
    worker.run_once(ctx)
    operations.relabel(ctx, SYSTEM, staged_id, operations.Relabel(session="E9"))
    archived = archiver.archive(ctx, SYSTEM, staged_id)
    assert (archived.subject, archived.session) == ("S1", "E9")
    assert plans == [staged_id, staged_id]  # the build, the relabel's build; none at archive


def test_what_the_archive_gained_since_the_build_is_checked_again(ctx: Context, pilot: str) -> None:
    """Built READY as E1; meanwhile another study is archived as E1: archiving the first
    now would merge two studies into one session."""
    ctx.settings.prearchive_quiet_s = 0
    first = stage(ctx, Study(), subject="S1")
    worker.run_once(ctx)
    assert status_of(ctx, first) == Status.READY
    second = stage(ctx, Study(), subject="S1")
    with ctx.db.write() as db:
        other = db.get(StagedSession, second)
        assert other is not None
        first_session = db.get(StagedSession, first)
        assert first_session is not None
        other.session = first_session.session
    archiver.archive(ctx, SYSTEM, second)
    with pytest.raises(Conflict, match="Invalid modification of session UID"):
        archiver.archive(ctx, SYSTEM, first)
    assert status_of(ctx, first) == Status.CONFLICT
