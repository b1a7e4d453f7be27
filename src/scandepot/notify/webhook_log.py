"""A project's webhook delivery log, and a delivery sent again."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, load_project
from scandepot.catalog.notify import Channel, Delivery, OutboxMessage, Webhook
from scandepot.context import Context
from scandepot.errors import Conflict, NotFound
from scandepot.notify import outbox

SHOWN = 50
MOST = 500


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    delivery: str  # the X-Scandepot-Delivery header it is sent with
    webhook_id: int | None  # None: the webhook was removed since
    event: str
    url: str
    status: str  # pending, sent, refused, failed
    attempts: int
    last_code: int | None  # the HTTP status of the last attempt
    last_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None  # while pending


def _view(row: OutboxMessage) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        delivery=row.message_key,
        webhook_id=row.webhook_id,
        event=row.subject,
        url=row.target,
        status=row.status,
        attempts=row.attempts,
        last_code=row.last_code,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
        next_attempt_at=row.next_attempt_at if row.status == Delivery.PENDING.value else None,
    )


def deliveries(
    ctx: Context,
    actor: Actor,
    project: str,
    *,
    limit: int = SHOWN,
    webhook_id: int | None = None,
) -> list[DeliveryView]:
    """The project's latest webhook deliveries, newest first."""
    with ctx.db.read() as db:
        proj = load_project(db, actor, project, Action.CONFIGURE)
        query = select(OutboxMessage).where(
            OutboxMessage.project_id == proj.id,
            OutboxMessage.channel == Channel.WEBHOOK.value,
        )
        if webhook_id is not None:
            query = query.where(OutboxMessage.webhook_id == webhook_id)
        rows = db.scalars(query.order_by(OutboxMessage.id.desc()).limit(max(1, min(limit, MOST))))
        return [_view(row) for row in rows]


def redeliver(ctx: Context, actor: Actor, project: str, delivery_id: int) -> DeliveryView:
    """A new delivery of the same body to the same webhook (at its URL of now)."""
    with ctx.db.write() as db:
        proj = load_project(db, actor, project, Action.CONFIGURE)
        row = db.get(OutboxMessage, delivery_id)
        if row is None or row.project_id != proj.id or row.channel != Channel.WEBHOOK.value:
            raise NotFound(
                f"Project '{project}' has no webhook delivery {delivery_id}.", field="delivery_id"
            )
        hook = db.get(Webhook, row.webhook_id) if row.webhook_id is not None else None
        if hook is None:
            raise Conflict("The webhook of this delivery was removed; it cannot be sent again.")
        if not hook.enabled:
            raise Conflict("The webhook is disabled: enable it to send deliveries again.")
        again = outbox.add_delivery(db, hook, row.body, event=row.subject, topic=row.topic)
        return _view(again)
