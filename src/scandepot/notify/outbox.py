"""The outbox: messages and webhook deliveries written in a transaction, sent later.

    pending --claim (lease)--> sent
       ^          |  \\--temporary failure--> pending, next attempt after a back-off
       |          |   \\--too many attempts--> failed
       |          \\--refused for good (SMTP 5xx, HTTP 4xx)--> refused
       \\--lease ran out (a sender killed mid-send)--> claimed again

Whoever writes a row does so in the transaction of the change it tells of; the sender
(notify/sender.py) claims due rows with a lease, sends, and records how it went. A
sender killed between sending and recording leaves the lease to run out, and the row is
sent again with the same ``message_key`` (an email's Message-ID): the only way a message
goes twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.notify import Channel, Delivery, OutboxMessage, Topic, Webhook
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.settings import Settings

FIRST_RETRY_S = 30.0
LONGEST_RETRY_S = 3600.0
ERROR_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one try at sending went."""

    ok: bool
    code: int | None = None  # the SMTP reply code or the HTTP status
    error: str = ""
    permanent: bool = False  # the peer refused for good: do not try again


def message_key(settings: Settings) -> str:
    """A Message-ID (RFC 5322) in the site's own domain, made once per message."""
    host = urlsplit(settings.public_url).hostname or "localhost"
    return f"<{uuid.uuid4().hex}@{host}>"


def add_email(
    db: DBSession,
    ctx: Context,
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    topic: Topic,
    project_id: int | None,
) -> OutboxMessage:
    """An email into the caller's transaction."""
    return _pending(
        db,
        channel=Channel.EMAIL.value,
        target=to,
        project_id=project_id,
        topic=topic.value,
        subject=subject,
        text=text,
        html=html,
        message_key=message_key(ctx.settings),
    )


def add_delivery(
    db: DBSession, webhook: Webhook, body: str, *, event: str, topic: str
) -> OutboxMessage:
    """A webhook delivery of ``body`` (JSON, signed when sent) into the caller's
    transaction; ``event`` is its kind, kept as the row's subject (the log, the header)."""
    return _pending(
        db,
        channel=Channel.WEBHOOK.value,
        target=webhook.url,
        webhook_id=webhook.id,
        project_id=webhook.project_id,
        topic=topic,
        subject=event,
        body=body,
        message_key=uuid.uuid4().hex,
    )


def _pending(db: DBSession, **values: Any) -> OutboxMessage:
    """A row due now, flushed (it has its ID)."""
    row = OutboxMessage(
        status=Delivery.PENDING.value,
        attempts=0,
        next_attempt_at=utcnow(),
        last_error="",
        **values,
    )
    db.add(row)
    db.flush()
    return row


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next attempt after ``attempts`` failures: 30 s doubling, at most 1 h."""
    seconds = min(LONGEST_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=seconds)


def claim_due(
    ctx: Context, *, limit: int, lease_s: float, now: dt.datetime | None = None
) -> list[int]:
    """Take up to ``limit`` due rows for ``lease_s`` seconds; their IDs, oldest first.
    One conditional UPDATE takes them all (RETURNING says which): a row another sender
    took meanwhile is no longer due, so two senders never hold one together, and a pass
    costs the catalog's writer one transaction, not one per row."""
    now = now or utcnow()
    free = or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until <= now)
    due = and_(
        OutboxMessage.status == Delivery.PENDING.value,
        OutboxMessage.next_attempt_at <= now,
        free,
    )
    with ctx.db.read() as db:
        candidates = list(
            db.scalars(select(OutboxMessage.id).where(due).order_by(OutboxMessage.id).limit(limit))
        )
    if not candidates:
        return []
    until = now + dt.timedelta(seconds=lease_s)
    with ctx.db.write() as db:
        taken = db.scalars(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates), due)
            .values(lease_until=until)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        ).all()
    return sorted(taken)


def record(
    ctx: Context, row_id: int, attempt: Attempt, *, now: dt.datetime | None = None
) -> OutboxMessage | None:
    """Write how an attempt went; the row as it now is."""
    [saved] = record_all(ctx, [(row_id, attempt)], now=now)
    return saved


def record_all(
    ctx: Context, attempts: Sequence[tuple[int, Attempt]], *, now: dt.datetime | None = None
) -> list[OutboxMessage | None]:
    """Write how several attempts went, in one transaction; the rows as they now are."""
    now = now or utcnow()
    saved: list[OutboxMessage | None] = []
    with ctx.db.write() as db:
        for row_id, attempt in attempts:
            row = db.get(OutboxMessage, row_id, with_for_update=True)
            if row is not None:
                _attempted(ctx, row, attempt, now)
            saved.append(row)
        db.flush()
        for row in saved:
            if row is not None:
                db.expunge(row)
    return saved


def _attempted(ctx: Context, row: OutboxMessage, attempt: Attempt, now: dt.datetime) -> None:
    row.attempts += 1
    row.last_code = attempt.code
    row.last_error = attempt.error[:ERROR_LENGTH]
    row.lease_until = None
    if attempt.ok:
        row.status, row.sent_at = Delivery.SENT.value, now
    elif attempt.permanent:
        row.status = Delivery.REFUSED.value
    elif row.attempts >= ctx.settings.notify_max_attempts:
        row.status = Delivery.FAILED.value
    else:
        row.next_attempt_at = now + backoff(row.attempts)


def load(ctx: Context, row_ids: Sequence[int]) -> list[OutboxMessage]:
    with ctx.db.read() as db:
        rows = list(db.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(list(row_ids)))))
        for row in rows:
            db.expunge(row)
    return sorted(rows, key=lambda r: r.id)
