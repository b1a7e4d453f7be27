"""Saved selections: a named set of a project's sessions, kept to be used again (a push).

- :class:`Selection`: its name (unique in the project, ignoring case, as labels are), a
  description, who saved it and when it last changed.
- :class:`SelectionSession`: one session of a selection, held by the session's row (its
  stable identity), so that relabelling a session or its subject leaves the selection
  whole. A deleted session leaves every selection with it (the row cascades).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow

NAME_LENGTH = 64
DESCRIPTION_LENGTH = 255


class Selection(Base):
    __tablename__ = "selection"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH), nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class SelectionSession(Base):
    __tablename__ = "selection_session"

    selection_id: Mapped[int] = mapped_column(
        ForeignKey("selection.id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[int] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), primary_key=True, index=True
    )
