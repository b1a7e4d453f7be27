"""The SFTP drop: drop accounts, SSH keys, dropped items and each project's drop rule.

A drop account belongs to one project and signs in as ``PROJECT+name`` (``+`` is in no
user login, so the two kinds of name never meet). Dropped items are files, one row each,
kept until they are matched to a session (then they are the archive's files) or deleted.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow


class DropState(enum.StrEnum):
    UNMATCHED = "unmatched"
    MATCHED = "matched"


class MatchRule(enum.StrEnum):
    NONE = "none"  # by hand only
    PATH = "path"  # the path names the subject and session labels
    TIME = "time"  # the session of the same day closest in time, within a window


class DropAccount(Base):
    __tablename__ = "drop_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # The whole sign-in name, PROJECT+name.
    username: Mapped[str] = mapped_column(String(140), unique=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class SshKey(Base):
    """A public key that signs in a user or a drop account (one of the two)."""

    __tablename__ = "ssh_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    drop_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("drop_account.id", ondelete="CASCADE"), index=True
    )
    # SHA256:base64, as ssh-keygen -l prints it.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    public_key: Mapped[str] = mapped_column(String(4096), nullable=False)  # the OpenSSH line
    comment: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class DropItem(Base):
    """A file dropped into a project's folder: unmatched (waiting in the drop folder), or
    matched (now a file of a session's resource)."""

    __tablename__ = "drop_item"
    __table_args__ = (Index("ix_drop_item_project_state", "project_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("drop_account.id", ondelete="SET NULL")
    )
    path: Mapped[str] = mapped_column(String(1024), nullable=False)  # POSIX, in the drop
    state: Mapped[str] = mapped_column(
        String(16), nullable=False, default=DropState.UNMATCHED.value
    )
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    md5: Mapped[str] = mapped_column(String(32), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    dropped_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="SET NULL"), index=True
    )
    resource: Mapped[str | None] = mapped_column(String(64))
    matched_path: Mapped[str | None] = mapped_column(String(1024))  # in the resource
    matched_by: Mapped[str | None] = mapped_column(String(64))  # "path", "time" or a login


class DropRule(Base):
    """How a project's drops are matched to sessions, and how much may wait unmatched."""

    __tablename__ = "drop_rule"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(String(16), nullable=False, default=MatchRule.NONE.value)
    # For the path rule: the leading folders, e.g. "{subject}/{session}".
    path_pattern: Mapped[str] = mapped_column(
        String(255), nullable=False, default="{subject}/{session}"
    )
    window_min: Mapped[int] = mapped_column(Integer, nullable=False, default=120)
    resource: Mapped[str] = mapped_column(String(64), nullable=False, default="PHYSIO")
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger)  # None: no limit
