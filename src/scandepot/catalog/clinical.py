"""Clinical data: each project's variables and the records of its subjects and sessions.

- :class:`ClinicalSchema`: one version of a project's variables for one level
  (``subject`` or ``session``), as a JSON Schema (types, units, allowed values, required
  fields). Saving writes a new version; the newest is in force. Old versions stay, so a
  record says which version it was checked against.
- :class:`ClinicalRecord`: the current values of one subject (or one session) as a JSON
  object, with the number of its current version.
- :class:`ClinicalRecordVersion`: every version of a record, who wrote it and when, and
  how it was written (API, CSV import, ...): the history that says who changed what.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow


class ClinicalLevel(enum.StrEnum):
    SUBJECT = "subject"
    SESSION = "session"


class ClinicalSchema(Base):
    __tablename__ = "clinical_schema"
    __table_args__ = (UniqueConstraint("project_id", "level", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    schema: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ClinicalRecord(Base):
    __tablename__ = "clinical_record"
    # One record per subject (session_id None) and one per session.
    __table_args__ = (UniqueConstraint("project_id", "subject_id", "session_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), nullable=False, index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    # None once deleted: the row stays, so that its history does.
    values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    schema_version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ClinicalRecordVersion(Base):
    __tablename__ = "clinical_record_version"
    __table_args__ = (UniqueConstraint("record_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[int] = mapped_column(
        ForeignKey("clinical_record.id", ondelete="CASCADE"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # The values as they were after this change; None when the record was deleted.
    values: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    schema_version: Mapped[int] = mapped_column(Integer, nullable=False)
    changed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # How: "api", "import", "delete", ...
    source: Mapped[str] = mapped_column(String(32), nullable=False)
