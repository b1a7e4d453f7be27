"""Staging: sessions received but not yet archived, and every DICOM instance.

A staged session is keyed by (project or unassigned, StudyInstanceUID). Its instances
wait in the prearchive spool until the session is archived, when they move (a rename)
into the archive and the same instance rows then point at their scan and file.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from scandepot.catalog.archive import UID_LENGTH
from scandepot.db.base import Base, UTCDateTime, utcnow

UNASSIGNED = ""  # the project key of sessions that no rule routed to a project


class Status(enum.StrEnum):
    RECEIVING = "RECEIVING"
    READY = "READY"
    BUILDING = "BUILDING"
    ARCHIVING = "ARCHIVING"
    CONFLICT = "CONFLICT"
    ERROR = "ERROR"


# The study attributes a staged session and an archived session both keep, by keyword
# (the session's own StudyInstanceUID, date and time aside): what archiving, a transfer
# landing in a prearchive and archive-time de-identification copy from one to the other.
STUDY_ATTRIBUTES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDescription",
    "AccessionNumber",
    "StudyID",
    "TimezoneOffsetFromUTC",
    "ReferringPhysicianName",
    "InstitutionName",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "MagneticFieldStrength",
)


class StagedSession(Base):
    """A session in the prearchive: one study's instances as received, waiting to be
    built and archived (its table keeps the name it was created with)."""

    __tablename__ = "prearchive_session"
    __table_args__ = (UniqueConstraint("project_key", "study_instance_uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The project's ID, or UNASSIGNED: part of the key, so never NULL.
    project_key: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    # (0020,000D) Study Instance UID
    StudyInstanceUID: Mapped[str] = mapped_column(
        "study_instance_uid", String(UID_LENGTH), nullable=False
    )
    subject: Mapped[str | None] = mapped_column(String(64))  # routed labels
    session: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=Status.RECEIVING)
    routing: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # Kind and text of each (scandepot.prearchive.problems); read as text by `problems`.
    problem_records: Mapped[list[Any]] = mapped_column(
        "problems", JSON, nullable=False, default=list
    )
    scans: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    # Set by uploads to the prearchive: built when quiet, but archived only on request,
    # whatever the project's upload destination.
    hold: Mapped[bool] = mapped_column(default=False, nullable=False, server_default=false())
    # Study attributes as received (the first instance's), for the archived session.
    PatientName: Mapped[str | None] = mapped_column("patient_name", String(324))
    PatientID: Mapped[str | None] = mapped_column("patient_id", String(64))
    PatientBirthDate: Mapped[str | None] = mapped_column("patient_birth_date", String(8))
    PatientSex: Mapped[str | None] = mapped_column("patient_sex", String(16))
    StudyDate: Mapped[date | None] = mapped_column("study_date", Date)
    StudyTime: Mapped[time | None] = mapped_column("study_time", Time)
    StudyDescription: Mapped[str | None] = mapped_column("study_description", String(64))
    AccessionNumber: Mapped[str | None] = mapped_column("accession_number", String(16))
    StudyID: Mapped[str | None] = mapped_column("study_id", String(16))
    TimezoneOffsetFromUTC: Mapped[str | None] = mapped_column("timezone_offset_from_utc", String(5))
    ReferringPhysicianName: Mapped[str | None] = mapped_column(
        "referring_physician_name", String(324)
    )
    InstitutionName: Mapped[str | None] = mapped_column("institution_name", String(64))
    Manufacturer: Mapped[str | None] = mapped_column("manufacturer", String(64))
    ManufacturerModelName: Mapped[str | None] = mapped_column("manufacturer_model_name", String(64))
    StationName: Mapped[str | None] = mapped_column("station_name", String(16))
    MagneticFieldStrength: Mapped[float | None] = mapped_column("magnetic_field_strength")
    source: Mapped[str | None] = mapped_column(String(128))  # e.g. "dicom:SCANNER1"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_received_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, index=True
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    @property
    def problems(self) -> list[str]:
        """The problems as people read them (a bare text: stored before they had kinds)."""
        return [p["text"] if isinstance(p, dict) else str(p) for p in self.problem_records]


class Instance(Base):
    """One DICOM instance, in the prearchive or in the archive."""

    __tablename__ = "dicom_instance"
    __table_args__ = (
        Index("ix_dicom_instance_sop_instance_uid", "sop_instance_uid"),
        Index("ix_dicom_instance_prearchive_sop", "prearchive_id", "sop_instance_uid"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # The staged session holding the instance until it is archived.
    staged_id: Mapped[int | None] = mapped_column(
        "prearchive_id", ForeignKey("prearchive_session.id", ondelete="CASCADE"), index=True
    )
    scan_id: Mapped[int | None] = mapped_column(
        ForeignKey("scan.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[int | None] = mapped_column(
        ForeignKey("file.id", ondelete="CASCADE"), index=True
    )
    # (0008,0018) SOP Instance UID
    SOPInstanceUID: Mapped[str] = mapped_column(
        "sop_instance_uid", String(UID_LENGTH), nullable=False
    )
    # (0008,0016) SOP Class UID
    SOPClassUID: Mapped[str] = mapped_column("sop_class_uid", String(UID_LENGTH), nullable=False)
    # (0002,0010) Transfer Syntax UID
    TransferSyntaxUID: Mapped[str] = mapped_column(
        "transfer_syntax_uid", String(UID_LENGTH), nullable=False
    )
    # (0020,000D) Study Instance UID
    StudyInstanceUID: Mapped[str] = mapped_column(
        "study_instance_uid", String(UID_LENGTH), nullable=False
    )
    # (0020,000E) Series Instance UID
    SeriesInstanceUID: Mapped[str] = mapped_column(
        "series_instance_uid", String(UID_LENGTH), nullable=False, index=True
    )
    # (0020,0011) Series Number
    SeriesNumber: Mapped[int | None] = mapped_column("series_number", Integer)
    # (0008,103E) Series Description
    SeriesDescription: Mapped[str | None] = mapped_column("series_description", String(64))
    # (0008,0060) Modality
    Modality: Mapped[str | None] = mapped_column("modality", String(16))
    # (0018,0015) Body Part Examined
    BodyPartExamined: Mapped[str | None] = mapped_column("body_part_examined", String(16))
    # (0020,0013) Instance Number
    InstanceNumber: Mapped[int | None] = mapped_column("instance_number", Integer)
    # (0028,0008) Number of Frames
    NumberOfFrames: Mapped[int | None] = mapped_column("number_of_frames", Integer)
    # (0028,0010) Rows, (0028,0011) Columns, (0028,0100) Bits Allocated
    Rows: Mapped[int | None] = mapped_column("rows", Integer)
    Columns: Mapped[int | None] = mapped_column("columns", Integer)
    BitsAllocated: Mapped[int | None] = mapped_column("bits_allocated", Integer)
    # (0008,0021) Series Date, (0008,0031) Series Time: the scan takes its series' first
    SeriesDate: Mapped[date | None] = mapped_column("series_date", Date)
    SeriesTime: Mapped[time | None] = mapped_column("series_time", Time)
    # (0040,0244), (0040,0245) Performed Procedure Step Start Date and Time: likewise
    PerformedProcedureStepStartDate: Mapped[date | None] = mapped_column(
        "performed_procedure_step_start_date", Date
    )
    PerformedProcedureStepStartTime: Mapped[time | None] = mapped_column(
        "performed_procedure_step_start_time", Time
    )
    spool_path: Mapped[str | None] = mapped_column(String(1024))  # while in the prearchive
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # None until computed: the DICOM receiver leaves them to the build (see
    # prearchive.digests); an archived instance always has both.
    md5: Mapped[str | None] = mapped_column(String(32))
    sha256: Mapped[str | None] = mapped_column(String(64))
    crc32: Mapped[int | None] = mapped_column(BigInteger)  # computed with them; File.crc32
    # An incoming copy of an instance already held, with other bytes: kept, not used
    # unless someone archives with overwrite (ConflictPolicy.KEEP) or used (REPLACE).
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
