"""The run over staged sessions, with a frozen clock: an age and a weekday table, the
warning once and its people, the deletion at its time and its audit entry, a hold that
keeps an item, the 7 T's own schedule, and one run at a time."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from scandepot.access.actors import SYSTEM
from scandepot.catalog.journal import EventRecord
from scandepot.catalog.retention import RetentionLease
from scandepot.context import Context
from scandepot.errors import Conflict
from scandepot.notify import compose, dispatch
from scandepot.retention import holds, run
from scandepot.retention.holds import HoldIn
from scandepot.retention.plan import plan
from scandepot.retention.run import run_once
from scandepot.settings import Settings
from scandepot.storage import spool
from tests.notify.world import emails, newest_notice, notices
from tests.retention.world import audited, schedule, stage, staged_ids, utc

H = dt.timedelta(hours=1)


@pytest.fixture
def pilot(make_project: Callable[..., str]) -> str:
    return make_project("private", label="PILOT", upload_destination="prearchive")


def retention_notices(ctx: Context) -> list[tuple[str, str]]:
    return sorted((a, t) for a, t, kind in notices(ctx) if kind == "RetentionDue")


def test_an_age_warns_once_then_deletes_at_its_time_and_audits(ctx: Context, pilot: str) -> None:
    staged = stage(ctx, pilot, scanned="20260302 100000")  # UTC: the default site zone
    scanned = utc("2026-03-02 10:00")
    made = schedule(ctx, "prearchive", age_days=2, warn_hours=12)
    (entry,) = plan(ctx, SYSTEM, now=scanned)
    assert (entry.due_at, entry.delete_at, entry.warn_at) == (
        scanned + 48 * H,
        scanned + 48 * H,
        scanned + 36 * H,
    )
    assert run_once(ctx, now=scanned + 35 * H).warned == 0
    assert run_once(ctx, now=scanned + 36 * H).warned == 1
    assert run_once(ctx, now=scanned + 37 * H).warned == 0  # once
    with ctx.db.read() as db:
        (event,) = db.scalars(select(EventRecord).where(EventRecord.kind == "RetentionDue"))
    assert event.project == pilot and event.payload["due_at"] == "2026-03-04T10:00:00+00:00"
    dispatch.run(ctx, now=scanned + 37 * H)
    # The owner and the members (the uploader among them); not the collaborator.
    assert retention_notices(ctx) == [
        ("member@example.org", "attention"),
        ("owner@example.org", "attention"),
    ]
    compose.run(ctx, now=newest_notice(ctx) + H)  # the notices are written at the real time
    message = next(e for e in emails(ctx) if e.target == "owner@example.org")
    when = "2026-03-04 10:00 UTC"
    assert message.subject == (
        f"[scandepot] Needs attention: staged session {staged.id} in {pilot}: S1/E1, study "
        f"{staged.StudyInstanceUID} will be deleted on {when}"
    )
    assert f"To be deleted on {when}: staged session {staged.id}" in message.text

    assert run_once(ctx, now=scanned + 48 * H - dt.timedelta(seconds=1)).deleted == 0
    assert staged_ids(ctx) == [staged.id]
    done = run_once(ctx, now=scanned + 48 * H)
    assert (done.deleted, done.freed > 0) == (1, True)
    assert staged_ids(ctx) == []
    assert not spool.folder(ctx.store, staged.id).exists()
    (entry_audit,) = audited(ctx)
    assert entry_audit.actor_login == "system" and entry_audit.project == pilot
    assert entry_audit.target == f"prearchive:{staged.id}:{staged.StudyInstanceUID}"
    assert entry_audit.detail["schedule"] == made.id
    assert entry_audit.detail["warned_at"] == (scanned + 36 * H).isoformat()
    assert list(ctx.store.trash.iterdir()) == []


def test_a_warning_sent_late_still_gives_its_full_time(ctx: Context, pilot: str) -> None:
    stage(ctx, pilot, scanned="20260302 100000")
    scanned = utc("2026-03-02 10:00")
    schedule(ctx, "prearchive", age_hours=48, warn_hours=12)
    late = scanned + 60 * H  # no run until after the deletion was due
    done = run_once(ctx, now=late)
    assert (done.warned, done.deleted) == (1, 0)
    (entry,) = plan(ctx, SYSTEM, now=late)
    assert entry.delete_at == late + 12 * H
    assert run_once(ctx, now=late + 11 * H).deleted == 0
    assert run_once(ctx, now=late + 12 * H).deleted == 1


def test_a_held_item_is_never_deleted_until_released(ctx: Context, pilot: str) -> None:
    staged = stage(ctx, pilot, scanned="20260302 100000")
    scanned = utc("2026-03-02 10:00")
    schedule(ctx, "prearchive", age_hours=24)
    key = f"{staged.id}:{staged.StudyInstanceUID}"
    made = holds.hold(ctx, SYSTEM, HoldIn(area="prearchive", key=key, reason="paper revision"))
    with pytest.raises(Conflict):
        holds.hold(ctx, SYSTEM, HoldIn(area="prearchive", key=key))
    for years in (0, 1, 5):
        done = run_once(ctx, now=scanned + 25 * H + dt.timedelta(days=365 * years))
        assert (done.deleted, done.held) == (0, 1)
    (entry,) = plan(ctx, SYSTEM, now=scanned)
    assert entry.hold is not None and entry.hold.reason == "paper revision"
    assert staged_ids(ctx) == [staged.id]
    holds.release(ctx, SYSTEM, made.id)
    assert run_once(ctx, now=scanned + 25 * H).deleted == 1
    actions = [e.action for e in audited(ctx, "retention.held")]
    actions += [e.action for e in audited(ctx, "retention.released")]
    assert actions == ["retention.held", "retention.released"] and len(audited(ctx)) == 1


def test_a_weekday_table_removes_unassigned_studies_in_the_sites_time(
    ctx: Context, users: object
) -> None:
    ctx.settings.site_timezone = "Europe/Amsterdam"
    monday = stage(ctx, None, scanned="20260302 100000")  # 10:00 in Amsterdam, 09:00 UTC
    tuesday = stage(ctx, None, scanned="20260303 100000", label="E2")
    schedule(ctx, "unassigned", weekdays={"MON": "WED"}, warn_hours=6)
    wednesday = utc("2026-03-03 23:00")  # Wednesday 00:00 in Amsterdam
    assert run_once(ctx, now=wednesday - 6 * H).warned == 1
    dispatch.run(ctx, now=wednesday)
    # No project: the site administrators, and the uploader.
    assert retention_notices(ctx) == [
        ("admin@example.org", "attention"),
        ("member@example.org", "attention"),
    ]
    assert run_once(ctx, now=wednesday - dt.timedelta(minutes=1)).deleted == 0
    assert run_once(ctx, now=wednesday).deleted == 1
    assert staged_ids(ctx) == [tuesday.id]  # Tuesday is not in the table: kept
    assert audited(ctx)[0].target == f"unassigned:{monday.id}:{monday.StudyInstanceUID}"
    assert run_once(ctx, now=wednesday + dt.timedelta(days=400)).deleted == 0


def test_the_7t_is_cleared_within_a_day_the_others_in_a_week(ctx: Context, pilot: str) -> None:
    seven = stage(ctx, pilot, scanned="20260302 100000", station="MR7T")
    three = stage(ctx, pilot, scanned="20260302 100000", station="MR3T", label="E2")
    schedule(ctx, "prearchive", age_days=7)
    schedule(ctx, "prearchive", scanner="mr7t", age_hours=24)
    assert run_once(ctx, now=utc("2026-03-03 10:00")).deleted == 1
    assert staged_ids(ctx) == [three.id]
    assert audited(ctx)[0].target.endswith(seven.StudyInstanceUID)
    assert run_once(ctx, now=utc("2026-03-09 10:00")).deleted == 1


def test_a_run_finds_the_lease_taken_and_does_nothing(ctx: Context, pilot: str) -> None:
    stage(ctx, pilot, scanned="20260302 100000")
    schedule(ctx, "prearchive", age_hours=1)
    with ctx.db.write() as db:
        db.add(RetentionLease(name="run", holder="another", until=utc("2999-01-01 00:00")))
    done = run_once(ctx, now=utc("2026-04-01 00:00"))
    assert done.busy and done.deleted == 0 and len(staged_ids(ctx)) == 1
    with ctx.db.write() as db:  # the other process died: its lease runs out
        db.execute(update(RetentionLease).values(until=utc("2000-01-01 00:00")))
    assert run_once(ctx, now=utc("2026-04-01 00:00")).deleted == 1


def _run_in_a_process(settings: Settings, now: dt.datetime, start: Any, out: Any) -> None:
    ctx = Context.from_settings(settings)
    try:
        start.wait()
        done = run_once(ctx, now=now)
        out.put((done.deleted, done.busy))
    finally:
        ctx.close()


def test_two_processes_at_once_delete_and_audit_each_item_once(ctx: Context, pilot: str) -> None:
    for n in range(4):
        stage(ctx, pilot, scanned="20260302 100000", label=f"E{n}")
    schedule(ctx, "prearchive", age_hours=1)
    spawn = multiprocessing.get_context("spawn")
    start, out = spawn.Barrier(2), spawn.Queue()
    now = utc("2026-04-01 00:00")
    procs = [
        spawn.Process(target=_run_in_a_process, args=(ctx.settings, now, start, out))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(deleted for deleted, _busy in results) == 4
    targets = [e.target for e in audited(ctx)]
    assert len(targets) == len(set(targets)) == 4
    assert staged_ids(ctx) == []


def test_a_run_asked_for_is_audited_as_the_administrator(ctx: Context, pilot: str) -> None:
    stage(ctx, pilot, scanned="20260302 100000")
    schedule(ctx, "prearchive", age_hours=1)
    from scandepot.access.actors import Actor

    admin = Actor(user_id=None, login="admin", is_site_admin=True)
    assert run.run(ctx, admin, now=utc("2026-04-01 00:00")).deleted == 1
    assert audited(ctx)[0].actor_login == "admin"


def test_a_study_still_arriving_is_not_deleted_under_its_sender(ctx: Context, pilot: str) -> None:
    from tests.notify.world import upload

    upload(ctx, pilot, "S1", "E1", by="member")  # not built: RECEIVING, its last instance now
    schedule(ctx, "prearchive", age_hours=1)
    done = run_once(ctx, now=utc("2030-01-01 00:00"))  # its scan (2024) is long past
    assert (done.deleted, done.skipped) == (0, 1) and len(staged_ids(ctx)) == 1


def test_warnings_long_past_are_forgotten(ctx: Context, pilot: str) -> None:
    from scandepot.catalog.retention import RetentionWarning

    stage(ctx, pilot, scanned="20260302 100000")
    schedule(ctx, "prearchive", age_hours=48, warn_hours=12)
    scanned = utc("2026-03-02 10:00")
    run_once(ctx, now=scanned + 36 * H)
    assert run_once(ctx, now=scanned + 48 * H).deleted == 1
    with ctx.db.read() as db:
        assert len(db.scalars(select(RetentionWarning)).all()) == 1
    run_once(ctx, now=scanned + 48 * H + dt.timedelta(days=31))
    with ctx.db.read() as db:
        assert db.scalars(select(RetentionWarning)).all() == []


def test_an_item_found_long_after_its_time_is_warned_once_then_deleted(
    ctx: Context, pilot: str
) -> None:
    """A schedule made for what waited for months: its warning is kept until the
    deletion it announces, not forgotten at once for a due time long past."""
    stage(ctx, pilot, scanned="20260302 100000")
    schedule(ctx, "prearchive", age_hours=48, warn_hours=12)
    found = utc("2026-03-02 10:00") + dt.timedelta(days=90)
    assert run_once(ctx, now=found).warned == 1
    assert run_once(ctx, now=found + H).warned == 0
    done = run_once(ctx, now=found + 12 * H)
    assert (done.warned, done.deleted) == (0, 1) and len(audited(ctx)) == 1
