"""Datasets: named selections of subjects and sessions, released as frozen versions,
validated by a curator, published as aggregated metadata, and read by approved users.

- :class:`Dataset`: its site-wide ID (``SD_D00001``, never reused, the stable part of
  every version's address), a short name, who created it.
- :class:`DatasetOwner`: the users who own it (edit, release, approve access).
- :class:`DatasetVersion`: version 1, 2, ... with its state (:class:`VersionState`), its
  descriptive metadata, the validation's outcome and, once published, the aggregates the
  public sees. Only the draft is editable; a new version starts as a draft from the last.
- :class:`DatasetMember`: a subject (all its sessions at release) or a session of a draft,
  held by the row's identity; a deleted subject or session leaves the draft with it.
- :class:`DatasetFile`: the manifest of a released version, one row per file, written
  once at release: the file's path inside the release (labels as they were), its size
  and checksums, and the ids it had then. ``file_id`` holds the archive's file for the
  release (``ON DELETE RESTRICT``: the archive refuses to delete a held file); a withdrawn
  version lets go (``file_id`` NULL) and keeps the manifest as it was.
- :class:`DatasetEvent`: every step, with who and when (the dataset's own history; the
  audit log records them too).
- :class:`DatasetAccess`: a user's request to read a published version, with its purpose,
  and the owners' decision; revoked access keeps its row.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow

NAME_LENGTH = 64


class VersionState(enum.StrEnum):
    DRAFT = "draft"  # editable by its owners
    RELEASED = "released"  # frozen; validation runs, then waits for a curator
    SENT_BACK = "sent_back"  # a curator's comments; the owners make a new version
    VALIDATED = "validated"  # a curator accepted it; the owners may publish
    PUBLISHED = "published"  # in the public catalogue, aggregates only
    WITHDRAWN = "withdrawn"  # gone from the catalogue; its manifest stays


class ValidationState(enum.StrEnum):
    PENDING = "pending"  # queued or running
    PASSED = "passed"
    FAILED = "failed"


class MemberKind(enum.StrEnum):
    SUBJECT = "subject"
    SESSION = "session"


class AccessState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    REVOKED = "revoked"


class Dataset(Base):
    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stable_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    # Letters, digits, '-' and '_' as labels; unique site-wide ignoring case.
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class DatasetOwner(Base):
    __tablename__ = "dataset_owner"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DatasetVersion(Base):
    __tablename__ = "dataset_version"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False, index=True
    )
    number: Mapped[int] = mapped_column(Integer, nullable=False)  # 1, 2, ...
    state: Mapped[str] = mapped_column(
        String(16), nullable=False, default=VersionState.DRAFT, index=True
    )
    # The descriptive metadata (title, description, authors, ...), checked by the schema.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, nullable=False, default=dict)
    # Set at release: the manifest's totals and the SHA-256 of its canonical form.
    file_count: Mapped[int | None] = mapped_column(BigInteger)
    byte_count: Mapped[int | None] = mapped_column(BigInteger)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    validation: Mapped[str | None] = mapped_column(String(16))  # ValidationState
    validation_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The curator's comments when sent back (or on validating).
    curator_comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Computed at publication; what the public catalogue shows.
    aggregates: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class DatasetMember(Base):
    __tablename__ = "dataset_member"
    __table_args__ = (
        CheckConstraint(
            "(subject_id IS NULL) <> (session_id IS NULL)", name="one_of_subject_or_session"
        ),
        UniqueConstraint("version_id", "subject_id"),
        UniqueConstraint("version_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_version.id", ondelete="CASCADE"), nullable=False, index=True
    )
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )


class DatasetFile(Base):
    __tablename__ = "dataset_file"
    __table_args__ = (
        UniqueConstraint("version_id", "path"),
        Index("ix_dataset_file_file_id", "file_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_version.id", ondelete="CASCADE"), nullable=False
    )
    # The archive's file while the release holds it; NULL once the version is withdrawn.
    file_id: Mapped[int | None] = mapped_column(ForeignKey("file.id", ondelete="RESTRICT"))
    # POSIX path inside the release: {project}/{subject}/{session}/... as labelled at release.
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    md5: Mapped[str] = mapped_column(String(32), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # The ids the file hung from at release (no foreign keys: the manifest outlives them).
    project_id: Mapped[int] = mapped_column(Integer, nullable=False)
    subject_id: Mapped[int | None] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(Integer)
    scan_id: Mapped[int | None] = mapped_column(Integer)


class DatasetEvent(Base):
    __tablename__ = "dataset_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False, index=True
    )
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_version.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    login: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class DatasetAccess(Base):
    __tablename__ = "dataset_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # The published version asked for; approval gives exactly this version.
    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_version.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
    )
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=AccessState.PENDING)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
