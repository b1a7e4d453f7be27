"""Retention of staging areas: schedules, holds, the warnings sent, and the run's lease.

- :class:`RetentionSchedule`: how long items of one staging area are kept, for every
  project or one, every scanner or one ("" stands for every: a unique key with NULLs
  would let two rows for "every project" in).
- :class:`RetentionHold`: an item a site administrator holds; never deleted while held.
- :class:`RetentionWarning`: a warning sent for one item and one deletion time, so that
  each is sent once.
- :class:`RetentionLease`: who runs retention now; two processes never run it at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow

KEY_LENGTH = 255  # an item's key within its area


class RetentionSchedule(Base):
    __tablename__ = "retention_schedule"
    __table_args__ = (UniqueConstraint("area", "project", "scanner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area: Mapped[str] = mapped_column(String(32), nullable=False)
    project: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # "": every
    # An AE title or a station name (the 7 T); "": every scanner.
    scanner: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # Either an age in hours, or a weekday table {"MON": "WED", ...} with a time of day.
    age_hours: Mapped[int | None] = mapped_column(Integer)
    weekdays: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    remove_at: Mapped[str | None] = mapped_column(String(5))  # "HH:MM", the site's time
    warn_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    changed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )


class RetentionHold(Base):
    __tablename__ = "retention_hold"
    __table_args__ = (UniqueConstraint("area", "item_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area: Mapped[str] = mapped_column(String(32), nullable=False)
    item_key: Mapped[str] = mapped_column(String(KEY_LENGTH), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    held_by: Mapped[str] = mapped_column(String(64), nullable=False)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RetentionWarning(Base):
    __tablename__ = "retention_warning"
    __table_args__ = (UniqueConstraint("area", "item_key", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area: Mapped[str] = mapped_column(String(32), nullable=False)
    item_key: Mapped[str] = mapped_column(String(KEY_LENGTH), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)  # as scheduled
    warned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RetentionLease(Base):
    __tablename__ = "retention_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
