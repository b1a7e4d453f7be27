"""Webhooks: a project's URLs, signed JSON deliveries of its events, their log."""

from __future__ import annotations

from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.journal import EventRecord
from scandepot.catalog.notify import OutboxMessage
from scandepot.context import Context
from scandepot.notify.outbox import Attempt


def enqueue(db: DBSession, record: EventRecord) -> int:
    """Add a delivery of ``record`` for each of its project's webhooks that wants it, in
    the caller's transaction; returns how many."""
    del db, record
    return 0


def deliver(ctx: Context, row: OutboxMessage) -> Attempt:
    """POST one delivery, signed; how it went."""
    del ctx, row
    return Attempt(ok=False, error="webhooks are not wired yet")
