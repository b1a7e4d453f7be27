"""A push's report and its end: counts, what failed and was refused with the reasons,
the script, the durations; the push's status, and the audit record of its end.

The counts come from the instances' rows, so a push resumed after a restart reports
every instance once, whichever run sent it. *sent* counts the instances this push sent
(their ``sent_at`` is set); *present* those the far side held already.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.push import InstanceStatus, Push, PushInstance, PushStatus
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.push.deliver import FAR, Tally

LISTED = 1000  # failed and refused instances listed in the report at most
GONE = "deleted from the archive after the push was asked for"


def fail_gone(ctx: Context, push_id: int, rows: list[int]) -> None:
    if not rows:
        return
    with ctx.db.write() as db:
        db.execute(
            update(PushInstance)
            .where(PushInstance.id.in_(rows))
            .values(status=InstanceStatus.FAILED.value, reason=GONE)
            .execution_options(synchronize_session=False)
        )


def waiting(ctx: Context, push_id: int, seconds: float, reason: str) -> None:
    """The push queued again to wait for its destination (jobrun.Later): it says until
    when, and why."""
    until = utcnow() + dt.timedelta(seconds=seconds)
    with ctx.db.write() as db:
        push = db.get(Push, push_id)
        if push is not None:
            push.status = PushStatus.QUEUED.value
            push.message = f"Waiting until {until.isoformat(timespec='seconds')}: {reason}"[:1024]


def counts(db: DBSession, push_id: int) -> dict[str, int]:
    found = {
        str(status): int(n)
        for status, n in db.execute(
            select(PushInstance.status, func.count())
            .where(PushInstance.push_id == push_id)
            .group_by(PushInstance.status)
        ).all()
    }
    sent = db.scalar(
        select(func.count()).where(
            PushInstance.push_id == push_id, PushInstance.sent_at.is_not(None)
        )
    )
    ended = sum(found.get(s.value, 0) for s in InstanceStatus if s is not InstanceStatus.PENDING)
    verified = found.get(InstanceStatus.VERIFIED.value, 0)
    return {
        **{s.value: found.get(s.value, 0) for s in InstanceStatus},
        "total": sum(found.values()),
        "done": ended,
        "sent_by_push": int(sent or 0),
        "already_there": verified + found.get(InstanceStatus.PRESENT.value, 0) - int(sent or 0),
    }


def listing(db: DBSession, push_id: int, status: InstanceStatus) -> list[dict[str, Any]]:
    """The instances of ``status`` with their reasons, named by session, scan and the
    SOP Instance UID they left (or would have left) with."""
    rows = db.execute(
        select(PushInstance, Session.label, Scan.label)
        .outerjoin(Session, PushInstance.session_id == Session.id)
        .outerjoin(Instance, PushInstance.instance_id == Instance.id)
        .outerjoin(Scan, Instance.scan_id == Scan.id)
        .where(PushInstance.push_id == push_id, PushInstance.status == status.value)
        .order_by(PushInstance.id)
        .limit(LISTED)
    ).all()
    return [
        {
            "session": session,
            "scan": scan,
            "sop_uid": row.sop_uid or None,
            "attempts": row.attempts,
            "reason": row.reason,
        }
        for row, session, scan in rows
    ]


def outcome(
    ctx: Context,
    push_id: int,
    tally: Tally,
    timings: dict[str, float],
    clinical: dict[str, Any] | None = None,
) -> tuple[PushStatus, str, dict[str, Any]]:
    """How the push ended, from its rows: succeeded when every instance is verified or
    refused by the script, and every clinical record it carries was taken."""
    with ctx.db.read() as db:
        found = counts(db, push_id)
    ok = found[InstanceStatus.VERIFIED.value] + found[InstanceStatus.REFUSED.value]
    lost = len((clinical or {}).get("failed", []))
    status = PushStatus.SUCCEEDED if ok == found["total"] and not lost else PushStatus.FAILED
    refused, failed = found[InstanceStatus.REFUSED.value], found[InstanceStatus.FAILED.value]
    message = (
        f"{found[InstanceStatus.VERIFIED.value]} of {found['total']} instance(s) verified on "
        f"the far side ({found['sent_by_push']} sent, {found['already_there']} already there)"
        + (f"; {refused} refused by the script" if refused else "")
        + (f"; {failed} failed" if failed else "")
        + (
            f"; clinical records: {clinical['sent']} of {clinical['subjects']} sent"
            if clinical
            else ""
        )
        + "."
    )
    send_s = timings.get("send_s", 0.0)
    run = {
        "sent": tally.sent,
        "present": tally.present,
        "retried": tally.retried,
        "rounds": tally.rounds,
        "bytes_sent": tally.bytes_sent,
        "instances_per_s": round(tally.sent / send_s, 1) if send_s > 0 else None,
        **{k: round(v, 3) for k, v in timings.items()},
    }
    return status, message, {"this_run": run, "clinical": clinical or {}}


def _actor(db: DBSession, push: Push) -> Actor:
    user = db.get(User, push.user_id) if push.user_id else None
    return actor_for(user) if user is not None else Actor(None, push.requested_by)


def end(
    ctx: Context,
    push_id: int,
    status: PushStatus,
    message: str,
    extra: dict[str, Any],
    started: float,
) -> None:
    """Write the push's end and report, and audit it, in one transaction."""
    with ctx.db.write() as db:
        push = db.get(Push, push_id)
        if push is None:
            return
        found = counts(db, push_id)
        runs = [*push.report.get("runs", []), {**extra.get("this_run", {}), "status": status.value}]
        runs[-1]["total_s"] = round(time.monotonic() - started, 3)
        push.report = {
            FAR: push.report.get(FAR, {}),
            "script": push.script,
            "counts": found,
            "failed": listing(db, push_id, InstanceStatus.FAILED),
            "refused": listing(db, push_id, InstanceStatus.REFUSED),
            "runs": runs,
        }
        if extra.get("clinical") or push.report.get("clinical"):
            push.report["clinical"] = extra.get("clinical") or push.report.get("clinical")
        push.status, push.message = status.value, message[:1024]
        push.instances_done = found["done"]
        push.finished_at = utcnow()
        if push.started_at is not None:
            took = push.finished_at - push.started_at
            push.report["duration_s"] = round(took.total_seconds(), 3)
        audit.record(
            db,
            _actor(db, push),
            AuditAction.PUSH_FINISHED,
            project=push.project,
            target=f"push {push.id}",
            status=status.value,
            sent=found["sent_by_push"],
            present=found["already_there"],
            failed=found[InstanceStatus.FAILED.value],
            refused=found[InstanceStatus.REFUSED.value],
            verified=found[InstanceStatus.VERIFIED.value],
        )
