"""The run: warn the people of items whose warning is due, then delete what is due.

Each warning is a :class:`~scandepot.events.RetentionDue` in the event journal (notify/
tells the people from there) with a :class:`RetentionWarning` row in the same
transaction; the row's key (area, item, deletion time) makes it once per item and time.
Each deletion is one transaction with its audit entry: the area sets the item's files
aside and deletes its rows (see :mod:`scandepot.retention.areas`), a hold added since the
plan was made is looked for again inside it, and the files go only after the commit.

One run at a time, site-wide: a run takes the lease (a row, taken by an UPDATE that only
succeeds when it is free or expired) and renews it as it goes; a second process finds it
taken and does nothing. ``scandepot serve`` runs it every ``retention_interval_s``
beside the prearchive builder (:class:`Keeper`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import uuid
from dataclasses import dataclass

from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import require_site_admin
from scandepot.catalog import journal
from scandepot.catalog.retention import RetentionHold, RetentionLease, RetentionWarning
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.events import RetentionDue
from scandepot.retention import plan as planning
from scandepot.retention.areas import Area
from scandepot.retention.drops import DropSource
from scandepot.retention.plan import Planned
from scandepot.storage.changes import Changes

log = logging.getLogger("scandepot.retention")

LEASE = dt.timedelta(minutes=15)
LEASE_NAME = "run"
KEEP_WARNINGS = dt.timedelta(days=30)


@dataclass
class RunReport:
    warned: int = 0
    deleted: int = 0
    freed: int = 0  # bytes
    held: int = 0  # due, but held
    skipped: int = 0  # due, but changed, busy or gone meanwhile
    failed: int = 0
    busy: bool = False  # another process was running retention: nothing done


def run(
    ctx: Context, actor: Actor, *, now: dt.datetime | None = None, drops: DropSource | None = None
) -> RunReport:
    """A run asked for by a site administrator; its deletions are audited as theirs."""
    require_site_admin(actor)
    return run_once(ctx, now=now, drops=drops, actor=actor)


def run_once(
    ctx: Context,
    *,
    now: dt.datetime | None = None,
    drops: DropSource | None = None,
    actor: Actor = SYSTEM,
) -> RunReport:
    """One run at ``now`` (the real time when not given)."""
    at = now or utcnow()
    report = RunReport()
    holder = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    if not _take_lease(ctx, holder):
        report.busy = True
        return report
    try:
        for area, entry in planning.compute(ctx, now=at, drops=drops):
            try:
                _one(ctx, area, entry, at, actor, holder, report)
            except Exception:  # noqa: BLE001 - one item failing must not stop the others
                log.exception("retention of %s:%s failed", entry.item.area, entry.item.key)
                report.failed += 1
        prune(ctx, now=at)
    finally:
        _give_back(ctx, holder)
    return report


def prune(ctx: Context, *, now: dt.datetime) -> None:
    """Forget warnings sent long ago (the item went, or was held and is warned of again
    once released). By when they were sent, not by the item's due time: an item found
    long after it was due (a schedule made for what waited for years) is warned of now,
    and that warning must be kept until the deletion it announces."""
    old = RetentionWarning.warned_at < now - KEEP_WARNINGS
    with ctx.db.read() as db:
        if db.scalar(select(RetentionWarning.id).where(old).limit(1)) is None:
            return  # nothing to forget: no write lock taken
    with ctx.db.write() as db:
        db.execute(delete(RetentionWarning).where(old))


def _one(
    ctx: Context,
    area: Area,
    entry: Planned,
    now: dt.datetime,
    actor: Actor,
    holder: str,
    report: RunReport,
) -> None:
    if entry.hold is not None:
        report.held += entry.delete_at <= now
        return
    warned_at = entry.warned_at
    if entry.warning_due and entry.warn_at is not None and now >= entry.warn_at:
        warned_at = _warn(ctx, entry, now)
        report.warned += 1
    if now < planning.delete_at(entry.due_at, entry.warn_hours, warned_at, now):
        return
    if _delete(ctx, area, entry, warned_at, actor, holder):
        report.deleted += 1
        report.freed += entry.item.size
    else:
        report.skipped += 1


def _warn(ctx: Context, entry: Planned, now: dt.datetime) -> dt.datetime:
    """Record the warning and its event, once; when it was sent (now, or before)."""
    item = entry.item
    with ctx.db.write() as db:
        try:
            with db.begin_nested():
                db.add(
                    RetentionWarning(
                        area=item.area.value, item_key=item.key, due_at=entry.due_at, warned_at=now
                    )
                )
                db.flush()
        except IntegrityError:  # told already (by a run that did not see it in its plan)
            found = db.scalar(_warning(entry))
            return found if found is not None else now
        journal.record(
            db,
            RetentionDue(
                area=item.area.value,
                key=item.key,
                description=item.description,
                project=item.project,
                due_at=planning.delete_at(entry.due_at, entry.warn_hours, now, now).isoformat(),
                size=item.size,
                people=item.people,
            ),
        )
    return now


def _warning(entry: Planned) -> Select[dt.datetime]:
    return select(RetentionWarning.warned_at).where(
        RetentionWarning.area == entry.item.area.value,
        RetentionWarning.item_key == entry.item.key,
        RetentionWarning.due_at == entry.due_at,
    )


def _delete(
    ctx: Context,
    area: Area,
    entry: Planned,
    warned_at: dt.datetime | None,
    actor: Actor,
    holder: str,
) -> bool:
    item = entry.item
    with Changes(ctx.store) as changes, ctx.db.write() as db:
        if _held(db, entry) or not _renew(db, holder):
            return False
        if not area.remove(ctx, db, changes, item):
            return False
        audit.record(
            db,
            actor,
            AuditAction.RETENTION_DELETED,
            project=item.project,
            target=f"{item.area.value}:{item.key}",
            area=item.area.value,
            description=item.description,
            size=item.size,
            eligible_at=item.eligible_at.isoformat(),
            due_at=entry.due_at.isoformat(),
            schedule=entry.schedule_id,
            warned_at=warned_at.isoformat() if warned_at else None,
        )
    log.info("retention deleted %s:%s (%s)", item.area, item.key, item.description)
    return True


def _held(db: DBSession, entry: Planned) -> bool:
    query = select(RetentionHold.id).where(
        RetentionHold.area == entry.item.area.value, RetentionHold.item_key == entry.item.key
    )
    return db.scalar(query) is not None


# -- the lease ----------------------------------------------------------------------------


def _take_lease(ctx: Context, holder: str) -> bool:
    """Take the run's lease if it is free or expired (real time, whatever ``now`` says)."""
    with ctx.db.write() as db:
        if db.get(RetentionLease, LEASE_NAME) is None:
            try:
                with db.begin_nested():
                    db.add(RetentionLease(name=LEASE_NAME))
                    db.flush()
            except IntegrityError:  # another process made it just now
                pass
        moment = utcnow()
        taken = db.execute(
            update(RetentionLease)
            .where(
                RetentionLease.name == LEASE_NAME,
                or_(RetentionLease.until.is_(None), RetentionLease.until < moment),
            )
            .values(holder=holder, until=moment + LEASE)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def _renew(db: DBSession, holder: str) -> bool:
    """Keep the lease (False: it was lost, the run must stop deleting)."""
    kept = db.execute(
        update(RetentionLease)
        .where(RetentionLease.name == LEASE_NAME, RetentionLease.holder == holder)
        .values(until=utcnow() + LEASE)
    )
    return bool(kept.rowcount)  # type: ignore[attr-defined]


def _give_back(ctx: Context, holder: str) -> None:
    with ctx.db.write() as db:
        db.execute(
            update(RetentionLease)
            .where(RetentionLease.name == LEASE_NAME, RetentionLease.holder == holder)
            .values(holder=None, until=None)
        )


class Keeper:
    """Runs :func:`run_once` every ``retention_interval_s`` on a thread of its own."""

    def __init__(self, ctx: Context, *, drops: DropSource | None = None) -> None:
        self.ctx = ctx
        self.drops = drops
        self.interval = ctx.settings.retention_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)

    def start(self) -> Keeper:
        if self.interval > 0:
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                run_once(self.ctx, drops=self.drops)
            except Exception:
                log.exception("retention run failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
