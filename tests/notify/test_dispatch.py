"""From the event journal to notices: real uploads archived and an unassigned study, a row
that cannot be read, two senders at once, and what is forgotten after 30 days."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from scandepot.catalog import journal
from scandepot.catalog.journal import EventRecord
from scandepot.catalog.notify import Notice
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.events import JobFinished
from scandepot.notify import dispatch
from tests.notify.world import build, choose, journal_kinds, notices, upload


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    return make_project("private", label="PILOT", upload_destination="archive")


def waiting(ctx: Context) -> int:
    with ctx.db.read() as db:
        return len(
            list(db.scalars(select(EventRecord.id).where(EventRecord.dispatched_at.is_(None))))
        )


def test_an_archived_upload_tells_its_uploader_and_those_who_follow_the_process(
    ctx: Context, pilot: str
) -> None:
    choose(ctx, "owner", "process", True)
    upload(ctx, pilot, "S1", "E1", by="member")
    build(ctx)
    assert journal_kinds(ctx) == ["SessionReceived", "SessionBuilt", "SessionArchived"]
    assert dispatch.run(ctx, now=utcnow()) == 3
    assert notices(ctx) == [
        ("owner@example.org", "process", "SessionReceived"),
        ("owner@example.org", "process", "SessionBuilt"),
        ("member@example.org", "archived", "SessionArchived"),
        ("owner@example.org", "process", "SessionArchived"),
    ]
    assert waiting(ctx) == 0
    assert dispatch.run(ctx, now=utcnow()) == 0
    assert len(notices(ctx)) == 4
    with ctx.db.read() as db:
        notice = db.scalars(select(Notice).where(Notice.kind == "SessionArchived")).first()
    assert notice is not None and notice.project == pilot
    assert notice.payload["uploader"] == "member" and notice.payload["session"] == "E1"


def test_an_unassigned_study_reaches_the_site_administrators(ctx: Context, pilot: str) -> None:
    upload(ctx, None, "S1", "E1", by="member")  # no project given, none found by the rules
    build(ctx)
    assert "SessionNeedsAttention" in journal_kinds(ctx)
    dispatch.run(ctx, now=utcnow())
    assert notices(ctx) == [("admin@example.org", "attention", "SessionNeedsAttention")]


def test_a_row_that_cannot_be_read_is_logged_and_the_others_go_on(
    ctx: Context, pilot: str, caplog: pytest.LogCaptureFixture
) -> None:
    with ctx.db.write() as db:
        db.add(EventRecord(kind="SessionArchived", project=pilot, payload={"project": pilot}))
        db.add(EventRecord(kind="SomethingNew", project=pilot, payload={}))
        journal.record(db, JobFinished(1, "qa", pilot, "failed", "E1", "broken"))
    with caplog.at_level(logging.ERROR, logger="scandepot.notify"):
        assert dispatch.run(ctx, now=utcnow()) == 3
    assert notices(ctx) == [("owner@example.org", "attention", "JobFinished")]
    assert waiting(ctx) == 0
    logged = [r.getMessage() for r in caplog.records]
    assert any("(SessionArchived) could not be turned into notices" in m for m in logged)
    assert any("(SomethingNew) could not be turned into notices" in m for m in logged)


def test_two_senders_at_once_dispatch_each_event_once(ctx: Context, pilot: str) -> None:
    count = 2 * dispatch.BATCH + 50
    with ctx.db.write() as db:
        for n in range(count):
            journal.record(db, JobFinished(n, "qa", pilot, "failed", f"E{n}", ""))
    done: list[int] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            done.append(dispatch.run(ctx, now=utcnow()))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and sum(done) == count
    with ctx.db.read() as db:
        events = list(db.scalars(select(Notice.event_id)))
    assert len(events) == count and len(set(events)) == count


def test_dispatched_events_and_sent_notices_are_forgotten_after_30_days(
    ctx: Context, pilot: str
) -> None:
    with ctx.db.write() as db:
        for n in range(3):
            journal.record(db, JobFinished(n, "qa", pilot, "failed", "E1", ""))
    now = utcnow()
    dispatch.run(ctx, now=now)
    with ctx.db.write() as db:
        first, second, _ = db.scalars(select(Notice.id).order_by(Notice.id))
        db.execute(update(Notice).where(Notice.id == first).values(message_id=99))
        journal.record(db, JobFinished(9, "qa", pilot, "failed", "E1", ""))  # not dispatched
    later = now + dispatch.KEEP + dt.timedelta(minutes=1)
    dispatch.prune(ctx, now=later)
    with ctx.db.read() as db:
        kept = list(db.scalars(select(Notice.id).order_by(Notice.id)))
        left = list(db.scalars(select(EventRecord.payload)))
    assert kept[0] == second and first not in kept  # the waiting ones stay
    assert [p["job_id"] for p in left] == [9]


def test_events_of_one_batch_each_reach_their_own_uploader(ctx: Context, pilot: str) -> None:
    upload(ctx, pilot, "S1", "E1", by="member")
    upload(ctx, pilot, "S2", "E2", by="owner")
    upload(ctx, pilot, "S3", "E3", by="member")
    build(ctx)
    dispatch.run(ctx, now=utcnow())
    with ctx.db.read() as db:
        heard = db.execute(
            select(Notice.address, Notice.payload).where(Notice.kind == "SessionArchived")
        ).all()
    assert sorted((address, p["session"]) for address, p in heard) == [
        ("member@example.org", "E1"),
        ("member@example.org", "E3"),
        ("owner@example.org", "E2"),
    ]
