"""What the outbox could not deliver, for the site administrators: messages refused for
good (an SMTP 5xx, an HTTP 4xx) and those given up after the last attempt; sent again
from the start, or put aside."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import require_site_admin
from scandepot.catalog.archive import Project
from scandepot.catalog.notify import Delivery, OutboxMessage
from scandepot.catalog.paging import Page, PageRequest, paginate
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Invalid, NotFound

FAILED = (Delivery.REFUSED, Delivery.FAILED)


@dataclass(frozen=True, slots=True)
class FailureView:
    id: int
    channel: str  # email or webhook
    to: str  # the address, or the webhook's URL
    project: str | None  # None: a site-wide message (an alert to the administrators)
    topic: str
    subject: str
    status: str
    attempts: int
    code: int | None  # the last SMTP reply code or HTTP status
    error: str
    created_at: dt.datetime
    last_try_at: dt.datetime  # when it was last due (a refusal: the attempt that failed)


def _view(row: OutboxMessage, project: str | None) -> FailureView:
    return FailureView(
        id=row.id,
        channel=row.channel,
        to=row.target,
        project=project,
        topic=row.topic,
        subject=row.subject,
        status=row.status,
        attempts=row.attempts,
        code=row.last_code,
        error=row.last_error,
        created_at=row.created_at,
        last_try_at=row.next_attempt_at,
    )


def _statuses(status: str | None) -> list[str]:
    if status is None:
        return [s.value for s in FAILED]
    if status not in {s.value for s in Delivery}:
        choices = ", ".join(s.value for s in Delivery)
        raise Invalid(f"Unknown status '{status}'; choose from: {choices}.", field="status")
    return [status]


def list_failures(
    ctx: Context, actor: Actor, page: PageRequest, *, status: str | None = None
) -> Page[FailureView]:
    """The refused and failed messages (or those of ``status``), newest first."""
    require_site_admin(actor)
    columns: tuple[Any, ...] = (OutboxMessage, Project.label)
    stmt: Select[Any] = (
        select(*columns)
        .outerjoin(Project, Project.id == OutboxMessage.project_id)
        .where(OutboxMessage.status.in_(_statuses(status)))
    )
    with ctx.db.read() as db:
        found = paginate(
            db,
            stmt,
            page,
            sort_fields={
                "id": OutboxMessage.id,
                "created": OutboxMessage.created_at,
                "to": OutboxMessage.target,
                "project": Project.label,
            },
            default_sort="-id",
            tiebreak=OutboxMessage.id,
        )
        items = [_view(row, label) for row, label in found.items]
    return found.with_items(items)


def counts(ctx: Context, actor: Actor) -> dict[str, int]:
    """How many messages are in each state (every state named, zero or not)."""
    require_site_admin(actor)
    with ctx.db.read() as db:
        rows = db.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    found = {status: int(number) for status, number in rows}
    return {s.value: found.get(s.value, 0) for s in Delivery}


@dataclass(frozen=True, slots=True)
class Report:
    """A page of failures, and how many messages are in each state."""

    found: Page[FailureView]
    counts: dict[str, int]


def report(ctx: Context, actor: Actor, page: PageRequest, *, status: str | None = None) -> Report:
    return Report(list_failures(ctx, actor, page, status=status), counts(ctx, actor))


def _failed(db: DBSession, message_id: int) -> tuple[OutboxMessage, str | None]:
    row = db.get(OutboxMessage, message_id, with_for_update=True)
    if row is None:
        raise NotFound(f"Message {message_id} not found.", field="message")
    if row.status not in {s.value for s in FAILED}:
        raise Conflict(
            f"Message {message_id} is {row.status}; only refused and failed ones are "
            "retried or dismissed.",
            field="message",
        )
    project = db.get(Project, row.project_id) if row.project_id is not None else None
    return row, project.label if project is not None else None


def _note(
    db: DBSession,
    actor: Actor,
    action: AuditAction,
    row: OutboxMessage,
    project: str | None,
    before: str,
) -> None:
    audit.record(
        db,
        actor,
        action,
        project=project,
        target=f"message:{row.id}",
        channel=row.channel,
        to=row.target,
        status=before,
    )


def retry(
    ctx: Context, actor: Actor, message_id: int, *, now: dt.datetime | None = None
) -> FailureView:
    """Send a refused or failed message again, from its first attempt, at once."""
    require_site_admin(actor)
    with ctx.db.write() as db:
        row, project = _failed(db, message_id)
        before = row.status
        row.status = Delivery.PENDING.value
        row.attempts = 0
        row.next_attempt_at = now or utcnow()
        row.lease_until = None
        _note(db, actor, AuditAction.NOTIFY_MESSAGE_RETRIED, row, project, before)
        db.flush()
        return _view(row, project)


def dismiss(ctx: Context, actor: Actor, message_id: int) -> FailureView:
    """Put a refused or failed message aside: kept, no longer listed as a failure."""
    require_site_admin(actor)
    with ctx.db.write() as db:
        row, project = _failed(db, message_id)
        before = row.status
        row.status = Delivery.DISMISSED.value
        _note(db, actor, AuditAction.NOTIFY_MESSAGE_DISMISSED, row, project, before)
        db.flush()
        return _view(row, project)
