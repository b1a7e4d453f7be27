"""Notifications: who is told what, and the outbox of messages and webhook deliveries.

- :class:`Recipient`: an address a project sends its messages to (a person, a list),
  with the topics it gets.
- :class:`Choice`: what one user asked for: a topic on or off, in one project or in all.
- :class:`Webhook`: a project's URL and secret; deliveries are signed with the secret.
- :class:`Notice`: one event for one recipient, waiting to be put in a message with the
  others that arrive for the same recipient meanwhile (one message for a 40-session
  import, not 40).
- :class:`OutboxMessage`: an email or a webhook delivery, written in a transaction and
  sent by the background sender; its row says how each attempt went.
- :class:`Alert`: a case reported once (a stuck session, a silent receiver).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow

ADDRESS_LENGTH = 320  # RFC 3696: 64 + @ + 255
URL_LENGTH = 2048


class Topic(enum.StrEnum):
    """What a message is about, as recipients choose them."""

    ARCHIVED = "archived"  # a session was archived
    PROCESS = "process"  # the export-process series: received, routed, built, archived, jobs
    ATTENTION = "attention"  # a conflict, an error, an unassigned study, a failed pipeline
    STUCK = "stuck"  # a staged session not archived in time, a silent receiver (admins)
    DATASET = "dataset"  # a step in the life of a dataset one owns


# What a recipient added without topics is told of (the setting's addresses, the routes').
RECIPIENT_DEFAULT_TOPICS = (Topic.ARCHIVED,)


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class Delivery(enum.StrEnum):
    PENDING = "pending"  # to be sent (again) at next_attempt_at
    SENT = "sent"
    REFUSED = "refused"  # the peer said no for good (SMTP 5xx, HTTP 4xx but 408/429)
    FAILED = "failed"  # given up after notify_max_attempts
    DISMISSED = "dismissed"  # refused or failed, and put aside by a site administrator


class Recipient(Base):
    __tablename__ = "notify_recipient"
    __table_args__ = (UniqueConstraint("project_id", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), nullable=False)
    # The topics this address gets (Topic values).
    topics: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Choice(Base):
    """A user's own choice for a topic; no row: the topic's default."""

    __tablename__ = "notify_choice"
    __table_args__ = (UniqueConstraint("user_id", "project_id", "topic"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # None: every project (a project's own row wins over it).
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(16), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)


class Webhook(Base):
    __tablename__ = "notify_webhook"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    url: Mapped[str] = mapped_column(String(URL_LENGTH), nullable=False)
    # Signs each body (HMAC-SHA256); never shown back after it is set.
    secret: Mapped[str] = mapped_column(String(256), nullable=False)
    # The event kinds sent (events.JOURNALLED names); empty: all of the project's.
    events: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    description: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Notice(Base):
    """One event for one email recipient, until it is put in a message."""

    __tablename__ = "notify_notice"
    __table_args__ = (Index("ix_notify_notice_waiting", "message_id", "address"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), nullable=False)
    topic: Mapped[str] = mapped_column(String(16), nullable=False)
    event_id: Mapped[int] = mapped_column(BigInteger, nullable=False)  # event_record.id
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    project: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # The message it went into (outbox_message.id); None while it waits.
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class OutboxMessage(Base):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # Channel
    # The email address, or the webhook's URL when it was written.
    target: Mapped[str] = mapped_column(String(URL_LENGTH), nullable=False)
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("notify_webhook.id", ondelete="SET NULL"), index=True
    )
    # The project it is about, for its delivery log (None: site-wide, an admin alert).
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    topic: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    subject: Mapped[str] = mapped_column(String(998), nullable=False, default="")
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    html: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # A webhook's JSON body, exactly as signed and sent.
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # An email's Message-ID, the same on every attempt; a webhook's delivery ID.
    message_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=Delivery.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Held by a sender until then (a sender killed mid-send: another sends it after).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_code: Mapped[int | None] = mapped_column(Integer)  # SMTP reply or HTTP status
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Alert(Base):
    """A case told once: its key names it (``stuck:<staged id>:<last instance time>``)."""

    __tablename__ = "notify_alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
