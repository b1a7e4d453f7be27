"""The event journal: each event that notifications and webhooks follow, written as a row
in the same transaction as the change it tells of.

A publisher calls :func:`record` inside its write transaction; the row commits with the
change or not at all. notify/ takes the rows not yet dispatched, in any process, so an
event seen in a Celery worker or a second receiver reaches the server's notifications
too, and a process killed after the commit loses nothing. Rows are marked as dispatched
rather than followed by a cursor: on PostgreSQL IDs are handed out before commit, so a
later ID can commit first, and a cursor would step over the earlier one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm import Session as DBSession

from scandepot.db.base import Base, UTCDateTime, utcnow
from scandepot.events import encode


class EventRecord(Base):
    __tablename__ = "event_record"
    __table_args__ = (Index("ix_event_record_waiting", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)  # the event's class name
    project: Mapped[str | None] = mapped_column(String(64), index=True)  # its label, if any
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # When notify/ turned it into notices and webhook deliveries; None: not yet.
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def record(db: DBSession, event: object) -> EventRecord:
    """Write ``event`` into the caller's transaction (flushed, so it has its ID)."""
    kind, payload = encode(event)
    project = payload.get("project")
    row = EventRecord(kind=kind, project=project if isinstance(project, str) else None)
    row.payload = payload
    db.add(row)
    db.flush()
    return row
