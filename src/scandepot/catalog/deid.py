"""De-identification: each project's scripts, its pseudonym key and its pseudonym table.

- :class:`DeidScript`: one version of a project's script for one purpose: ``archive``
  (run on every instance as it is archived) or ``export`` (run on the way out: downloads,
  transfers, pushes). Saving writes a new version; the newest is in force; a version with
  ``enabled`` false turns the purpose off. Old versions stay, so that a session can say
  which version made it (``Session.deid``).
- :class:`DeidKey`: the project's secret, made at first use, which keys its UID remapping
  and date shifts: the same input gives the same pseudonym in one project, and two
  projects' pseudonyms cannot be linked.
- :class:`Pseudonym`: the project's lookup table (CTP's ``@lookup``; the profile's Patient ID
  and Name): ``kind`` ("ptid", "ptname", or any key type a script names), the original
  value, and what replaces it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow


class Purpose(enum.StrEnum):
    ARCHIVE = "archive"
    EXPORT = "export"


class ScriptKind(enum.StrEnum):
    PROFILE = "profile"  # PS3.15 Annex E with options; text is the options as JSON
    CTP = "ctp"  # a CTP DicomAnonymizer script (XML)


class DeidScript(Base):
    __tablename__ = "deid_script"
    __table_args__ = (UniqueConstraint("project_id", "purpose", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # A CTP DicomPixelAnonymizer script run after the element rules; "" for none.
    pixel_text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class DeidKey(Base):
    __tablename__ = "deid_key"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(64), nullable=False)  # 32 random bytes, hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Pseudonym(Base):
    __tablename__ = "pseudonym"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "original"),
        UniqueConstraint("project_id", "kind", "pseudonym"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    original: Mapped[str] = mapped_column(String(255), nullable=False)
    pseudonym: Mapped[str] = mapped_column(String(255), nullable=False)
