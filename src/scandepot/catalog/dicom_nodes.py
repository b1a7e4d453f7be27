"""DICOM nodes: the peers a site administrator has set up, the table of dicomnodes/.

A node is an AE title with, each optional, an address (host and port: a C-MOVE
destination) and the rights of the peer calling with that title (an account, a project,
or both: that account's view of that project).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.db.base import Base, UTCDateTime, utcnow

AE_TITLE_LENGTH = 16  # PS3.5 6.2: AE, at most 16 characters


class DicomNode(Base):
    __tablename__ = "dicom_node"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ae_title: Mapped[str] = mapped_column(String(AE_TITLE_LENGTH), unique=True, nullable=False)
    host: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer)
    # A mapping goes with what it maps to: the node then calls with anonymous rights.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
