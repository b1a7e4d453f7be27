"""Transfers between projects: shares, and copies or moves with their per-session items.

- :class:`Share`: a subject or session of one project shown in another under a label of
  that project (XNAT sharing). No bytes are copied; the data stays its owning project's,
  read-only from the project it is shared into.
- :class:`Transfer`: one request to copy or move sessions from a project into another,
  run as a job (``Job.pipeline == "transfer"``); its report says what was checked,
  written and compared.
- :class:`TransferItem`: one source session of a transfer and how far it got; a transfer
  resumed after a restart goes on from the first item not done.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow

LABEL_LENGTH = 64


class ShareKind(enum.StrEnum):
    SUBJECT = "subject"
    SESSION = "session"


class Share(Base):
    __tablename__ = "share"
    __table_args__ = (
        # One share of an object into a project, and share labels unique there per kind.
        UniqueConstraint("project_id", "target_key"),
        UniqueConstraint("project_id", "kind", "label"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # "subject:7" or "session:9": one key for uniqueness whichever is shared.
    target_key: Mapped[str] = mapped_column(String(48), nullable=False)
    # The project the object is shared into (not its owner: that is the object's own).
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # The shared session; None for a share of the subject.
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class TransferKind(enum.StrEnum):
    COPY = "copy"
    MOVE = "move"


class TransferStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # written, and (for a move) verified and the source deleted
    FAILED = "failed"
    CANCELLED = "cancelled"


class ItemStatus(enum.StrEnum):
    PENDING = "pending"
    COPIED = "copied"  # the destination session is written and committed
    VERIFIED = "verified"  # compared with the source (catalog, and bytes for a move)
    DELETED = "deleted"  # a move's source session, deleted after its verification
    SKIPPED = "skipped"  # a clash the caller chose to skip


class Transfer(Base):
    __tablename__ = "transfer"
    __table_args__ = (Index("ix_transfer_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    # Projects by label as well as by ID: a report outlives a deleted project.
    source_project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    dest_project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    source: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    destination: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    # What was asked, as the service's request model dumps it (sessions, mapping, scans,
    # resources, clash rule, where it lands).
    request: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=TransferStatus.QUEUED.value
    )
    message: Mapped[str] = mapped_column(String(1024), nullable=False, default="")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    files_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    files_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The check made before anything was written, then what was written and compared.
    report: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TransferItem(Base):
    __tablename__ = "transfer_item"
    __table_args__ = (UniqueConstraint("transfer_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transfer_id: Mapped[int] = mapped_column(
        ForeignKey("transfer.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)  # the order they run in
    source_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="SET NULL"), index=True
    )
    dest_session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="SET NULL"), index=True
    )
    # Labels as planned: source subject/session, destination subject/session.
    source_subject: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    source_session: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    dest_subject: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    dest_session: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=ItemStatus.PENDING.value
    )
    files: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # What the verification compared and found, for the report.
    verified: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
