"""Journal events into notices (per email recipient) and webhook deliveries.

The journal's rows not dispatched yet are taken oldest first, a batch per write
transaction; each becomes a :class:`Notice` for every address that hears of it
(:mod:`scandepot.notify.audience`) and a delivery for each webhook that wants it, and is
marked dispatched in the same transaction. On PostgreSQL the batch's rows are locked
with SKIP LOCKED, so two senders split the work instead of doing it twice; on SQLite the
one writer does one batch at a time. An event that cannot be read or whose audience
fails is logged and marked dispatched: one bad row never holds up the others.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.journal import EventRecord
from scandepot.catalog.notify import Notice
from scandepot.context import Context
from scandepot.events import decode
from scandepot.notify import webhooks
from scandepot.notify.audience import Listener, audience, same_audience

log = logging.getLogger("scandepot.notify")

BATCH = 50  # events per write transaction: the catalog's writer is not held long
KEEP = dt.timedelta(days=30)  # dispatched events and composed notices, then pruned


def run(ctx: Context, *, now: dt.datetime) -> int:
    """Dispatch the journal's events not dispatched yet; returns how many."""
    total = 0
    while True:
        done = _batch(ctx, now)
        total += done
        if done < BATCH:
            break
    prune(ctx, now=now)
    return total


def _waiting(ctx: Context) -> bool:
    """Whether any event waits: read first, so that an idle pass takes no write lock (on
    SQLite the one writer is the archive's too)."""
    with ctx.db.read() as db:
        query = select(EventRecord.id).where(EventRecord.dispatched_at.is_(None)).limit(1)
        return db.scalar(query) is not None


def _batch(ctx: Context, now: dt.datetime) -> int:
    if not _waiting(ctx):
        return 0
    with ctx.db.write() as db:
        query = (
            select(EventRecord)
            .where(EventRecord.dispatched_at.is_(None))
            .order_by(EventRecord.id)
            .limit(BATCH)
        )
        if not ctx.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = list(db.scalars(query))
        heard: dict[tuple[object, ...], list[Listener]] = {}
        for row in rows:
            _notices(db, row, heard)
            _webhooks(db, row, ctx.settings.public_url)
            row.dispatched_at = now
        return len(rows)


def _notices(
    db: DBSession, row: EventRecord, heard: dict[tuple[object, ...], list[Listener]]
) -> int:
    """A notice for each listener, in a savepoint: all of them or, on a failure, none.
    ``heard`` keeps the audiences found in this batch (one transaction: they hold)."""
    try:
        with db.begin_nested():
            event = decode(row.kind, dict(row.payload))
            alike = same_audience(event)
            if alike not in heard:
                heard[alike] = audience(db, event)
            listeners = heard[alike]
            for one in listeners:
                db.add(
                    Notice(
                        address=one.address,
                        topic=one.topic.value,
                        event_id=row.id,
                        kind=row.kind,
                        project=row.project,
                        payload=dict(row.payload),
                        created_at=row.created_at,
                    )
                )
            db.flush()
    except Exception:  # noqa: BLE001 - logged; the event is not tried again
        log.exception("event %d (%s) could not be turned into notices", row.id, row.kind)
        return 0
    return len(listeners)


def _webhooks(db: DBSession, row: EventRecord, public_url: str) -> None:
    try:
        with db.begin_nested():
            webhooks.enqueue(db, row, public_url=public_url)
    except Exception:  # noqa: BLE001 - logged; the event is not tried again
        log.exception("event %d (%s) could not be queued for webhooks", row.id, row.kind)


def prune(ctx: Context, *, now: dt.datetime) -> None:
    """Forget dispatched events and composed notices older than :data:`KEEP`."""
    before = now - KEEP
    old_events = select(EventRecord.id).where(
        EventRecord.dispatched_at.is_not(None), EventRecord.dispatched_at < before
    )
    old_notices = select(Notice.id).where(
        Notice.message_id.is_not(None), Notice.created_at < before
    )
    with ctx.db.read() as db:
        if db.scalar(old_events.limit(1)) is None and db.scalar(old_notices.limit(1)) is None:
            return  # nothing to forget: no write lock taken
    with ctx.db.write() as db:
        db.execute(
            delete(EventRecord).where(
                EventRecord.dispatched_at.is_not(None), EventRecord.dispatched_at < before
            )
        )
        db.execute(delete(Notice).where(Notice.message_id.is_not(None), Notice.created_at < before))
