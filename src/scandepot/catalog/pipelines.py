"""Catalog rows for pipelines: per-project settings and job records.

Job records are the truth about what ran: what, on what, with which parameters and
software versions, when, by whom, how it ended, its log and its outputs. A session or
scan that is deleted keeps its jobs (the ``target`` text names it as it was).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class PipelineConfig(Base):
    """One pipeline's settings in one project; no row means disabled, defaults."""

    __tablename__ = "pipeline_config"
    __table_args__ = (UniqueConstraint("project_id", "pipeline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    pipeline: Mapped[str] = mapped_column(String(32), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    auto_launch: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (Index("ix_job_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    pipeline: Mapped[str] = mapped_column(String(32), nullable=False)
    # The session the job works on; for a scan job also the scan. Kept as IDs (stable
    # across relabels) and as text for the record ("E1" or "E1/3" at launch time).
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="SET NULL"), index=True
    )
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scan.id", ondelete="SET NULL"))
    target: Mapped[str] = mapped_column(String(160), nullable=False)
    # The scans (catalog IDs) an auto-launched session job covers: those archived since
    # the last launch. NULL: every scan of the session (or the one scan of a scan job).
    scan_ids: Mapped[list[int] | None] = mapped_column(JSON)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=JobStatus.QUEUED.value)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    log: Mapped[str] = mapped_column(Text, nullable=False, default="")
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    versions: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    launched_by: Mapped[str] = mapped_column(String(64), nullable=False)
    # Runs only once this job has finished (QA and snapshots read dcm2niix's NIfTI).
    after_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("job.id", ondelete="SET NULL"), index=True
    )
    rerun_of: Mapped[int | None] = mapped_column(Integer)
    # Who holds the job while it runs: a token unique to one claim, so that a runner
    # whose job was taken back (stale heartbeat) can no longer change the record.
    claim: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Not claimed before this time: auto-launched jobs wait for the session to be complete
    # (the project's session_complete_after_min); each new series pushes it back.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
