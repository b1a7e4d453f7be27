"""The catalog: Project > Subject > Session > Scan > Resource > File.

Every object has a label (what people type, may change) and a stable site-wide ID
(subjects ``SD_S00001``, sessions ``SD_E00001``; projects use their immutable label).
Columns that hold a DICOM attribute carry its keyword as the Python name and its tag in
a comment; the SQL column name is the snake_case form.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from scandepot.catalog.notify import RECIPIENT_DEFAULT_TOPICS, Recipient
from scandepot.db.base import Base, UTCDateTime, utcnow

LABEL_LENGTH = 64
UID_LENGTH = 64  # PS3.5 §9.1: a UID is at most 64 characters
SESSION_COMPLETE_AFTER_MIN = 5


class Accessibility(enum.StrEnum):
    PRIVATE = "private"
    PROTECTED = "protected"
    PUBLIC = "public"


class UploadDestination(enum.StrEnum):
    PREARCHIVE = "prearchive"
    ARCHIVE = "archive"
    ARCHIVE_OVERWRITE = "archive-overwrite"


class SeriesFilterMode(enum.StrEnum):
    OFF = "off"
    ALLOW = "allow"  # only series whose description matches one of the patterns
    DENY = "deny"  # every series except those matching one of the patterns


class ConflictPolicy(enum.StrEnum):
    KEEP = "keep"  # keep what is archived, refuse the incoming copy, flag it
    REPLACE = "replace"  # replace what is archived, report what was replaced


class ScanQuality(enum.StrEnum):
    USABLE = "usable"
    QUESTIONABLE = "questionable"
    UNUSABLE = "unusable"


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class ResourceLevel(enum.StrEnum):
    PROJECT = "project"
    SUBJECT = "subject"
    SESSION = "session"
    SCAN = "scan"


class Counter(Base):
    """Monotonic counters behind site-wide IDs (one row per kind)."""

    __tablename__ = "counter"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class Project(Base):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    keywords: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    accessibility: Mapped[str] = mapped_column(
        String(16), nullable=False, default=Accessibility.PRIVATE.value
    )
    upload_destination: Mapped[str] = mapped_column(
        String(32), nullable=False, default=UploadDestination.PREARCHIVE.value
    )
    allow_subject_creation: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    bulk_upload_allowed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    series_filter_mode: Mapped[str] = mapped_column(
        String(16), nullable=False, default=SeriesFilterMode.OFF.value
    )
    series_filter: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # The addresses told of the project's events, each with its topics (notify/).
    recipients: Mapped[list[Recipient]] = relationship(
        cascade="all, delete-orphan", order_by="Recipient.id"
    )
    conflict_policy: Mapped[str] = mapped_column(
        String(16), nullable=False, default=ConflictPolicy.KEEP.value
    )
    # Quiet minutes after the last archived series before auto-launched pipelines start:
    # a session acquired series by series is processed once, not once per series.
    session_complete_after_min: Mapped[int] = mapped_column(
        Integer, nullable=False, default=SESSION_COMPLETE_AFTER_MIN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    @property
    def notification_recipients(self) -> list[str]:
        """The recipients' addresses: the project setting of that name."""
        return [r.address for r in self.recipients]

    @notification_recipients.setter
    def notification_recipients(self, addresses: list[str]) -> None:
        """Set the addresses: those kept keep their topics, new ones get the default."""
        held = {r.address: r for r in self.recipients}
        wanted = list(dict.fromkeys(addresses))
        self.recipients = [
            held.get(a) or Recipient(address=a, topics=[t.value for t in RECIPIENT_DEFAULT_TOPICS])
            for a in wanted
        ]


class Subject(Base):
    __tablename__ = "subject"
    __table_args__ = (UniqueConstraint("project_id", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The stable site-wide ID (SD_S00001, SD_E00001): labels change, this never does. Its
    # column keeps the name it was created with, "accession".
    stable_id: Mapped[str] = mapped_column("accession", String(32), unique=True, nullable=False)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    sex: Mapped[str | None] = mapped_column(String(16))
    age: Mapped[int | None] = mapped_column(Integer)  # years, at first session
    birth_year: Mapped[int | None] = mapped_column(Integer)
    group: Mapped[str | None] = mapped_column("group_name", String(LABEL_LENGTH))
    fields: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    project: Mapped[Project] = relationship(lazy="joined", innerjoin=True)
    # Not a column: the subject's label in the project it is seen through, when it is
    # shared into that project (transfers.Share); None when read in its own project.
    shared_label: Mapped[str | None] = query_expression()


class Session(Base):
    """An imaging session (XNAT: experiment); one DICOM study in the usual case."""

    __tablename__ = "session"
    __table_args__ = (
        UniqueConstraint("project_id", "label"),
        # DICOM queries: patients by ID (C-FIND's Patient Root), names by their start.
        Index("ix_session_patient_id", "patient_id"),
        Index("ix_session_patient_name", "patient_name"),
        # Study searches walk it backwards, newest first (query.studies); date ranges too.
        Index("ix_session_date_study", "date", "study_instance_uid", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The stable site-wide ID (SD_S00001, SD_E00001): labels change, this never does. Its
    # column keeps the name it was created with, "accession".
    stable_id: Mapped[str] = mapped_column("accession", String(32), unique=True, nullable=False)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), nullable=False, index=True
    )
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    modality: Mapped[str | None] = mapped_column(String(16), index=True)
    date: Mapped[date | None] = mapped_column(Date)  # (0008,0020) local, as given
    time: Mapped[time | None] = mapped_column(Time)  # (0008,0030) local, as given
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The de-identification script that made its files as they were archived: "archive
    # v3 sha256:1a2b3c4d5e6f" (catalog.deid.DeidScript); None when none ran.
    deid: Mapped[str | None] = mapped_column(String(96))
    # (0020,000D) Study Instance UID
    StudyInstanceUID: Mapped[str | None] = mapped_column(
        "study_instance_uid", String(UID_LENGTH), index=True
    )
    # (0008,0050) Accession Number
    AccessionNumber: Mapped[str | None] = mapped_column("accession_number", String(16))
    # (0020,0010) Study ID
    StudyID: Mapped[str | None] = mapped_column("study_id", String(16))
    # (0008,0201) Timezone Offset From UTC (+HHMM or -HHMM) of the study's first instance
    TimezoneOffsetFromUTC: Mapped[str | None] = mapped_column("timezone_offset_from_utc", String(5))
    # (0008,1030) Study Description
    StudyDescription: Mapped[str | None] = mapped_column("study_description", String(64))
    # (0010,0010) Patient's Name
    PatientName: Mapped[str | None] = mapped_column("patient_name", String(324))
    # (0010,0020) Patient ID
    PatientID: Mapped[str | None] = mapped_column("patient_id", String(64))
    # (0010,0030) Patient's Birth Date, as given (DA)
    PatientBirthDate: Mapped[str | None] = mapped_column("patient_birth_date", String(8))
    # (0010,0040) Patient's Sex
    PatientSex: Mapped[str | None] = mapped_column("patient_sex", String(16))
    # (0008,0090) Referring Physician's Name
    ReferringPhysicianName: Mapped[str | None] = mapped_column(
        "referring_physician_name", String(324)
    )
    # (0008,0061) Modalities in Study, backslash-separated as in DICOM
    ModalitiesInStudy: Mapped[str | None] = mapped_column("modalities_in_study", String(64))
    # (0008,0080) Institution Name
    InstitutionName: Mapped[str | None] = mapped_column("institution_name", String(64))
    # (0008,0070) Manufacturer
    Manufacturer: Mapped[str | None] = mapped_column("manufacturer", String(64))
    # (0008,1090) Manufacturer's Model Name
    ManufacturerModelName: Mapped[str | None] = mapped_column("manufacturer_model_name", String(64))
    # (0008,1010) Station Name
    StationName: Mapped[str | None] = mapped_column("station_name", String(16))
    # (0018,0087) Magnetic Field Strength, tesla
    MagneticFieldStrength: Mapped[float | None] = mapped_column("magnetic_field_strength", Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    project: Mapped[Project] = relationship(lazy="joined", innerjoin=True)
    subject: Mapped[Subject] = relationship(lazy="joined", innerjoin=True)
    # Not columns: the session's label, and its subject's, in the project it is seen
    # through when it is shared into that project (transfers.Share); None when read in
    # its own project.
    shared_label: Mapped[str | None] = query_expression()
    shared_subject_label: Mapped[str | None] = query_expression()


class Scan(Base):
    """One acquisition in a session; one DICOM series in the usual case."""

    __tablename__ = "scan"
    __table_args__ = (
        UniqueConstraint("session_id", "label"),
        # Series searches walk it in the order of their results (query.walk).
        Index("ix_scan_series_order", "series_number", "series_instance_uid", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # The scan ID within its session: the Series Number as text, by convention.
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    type: Mapped[str | None] = mapped_column(String(64))  # Series Description unless edited
    # (0020,000E) Series Instance UID
    SeriesInstanceUID: Mapped[str | None] = mapped_column(
        "series_instance_uid", String(UID_LENGTH), index=True
    )
    # (0020,0011) Series Number
    SeriesNumber: Mapped[int | None] = mapped_column("series_number", Integer)
    # (0008,103E) Series Description
    SeriesDescription: Mapped[str | None] = mapped_column("series_description", String(64))
    # (0008,0060) Modality
    Modality: Mapped[str | None] = mapped_column("modality", String(16))
    # (0018,0015) Body Part Examined
    BodyPartExamined: Mapped[str | None] = mapped_column("body_part_examined", String(16))
    # (0008,0021) Series Date and (0008,0031) Series Time, local, as given
    SeriesDate: Mapped[date | None] = mapped_column("series_date", Date)
    SeriesTime: Mapped[time | None] = mapped_column("series_time", Time)
    # (0040,0244), (0040,0245) Performed Procedure Step Start Date and Time, as given
    PerformedProcedureStepStartDate: Mapped[date | None] = mapped_column(
        "performed_procedure_step_start_date", Date
    )
    PerformedProcedureStepStartTime: Mapped[time | None] = mapped_column(
        "performed_procedure_step_start_time", Time
    )
    frames: Mapped[int | None] = mapped_column(Integer)
    quality: Mapped[str] = mapped_column(
        String(16), nullable=False, default=ScanQuality.USABLE.value
    )
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    session: Mapped[Session] = relationship(lazy="joined", innerjoin=True)


class Resource(Base):
    """A labelled folder of files (DICOM, NIFTI, QA, ...) at any level of the hierarchy."""

    __tablename__ = "resource"
    __table_args__ = (UniqueConstraint("parent_key", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    # "project:1", "subject:7", "session:9", "scan:42": one key for uniqueness of labels
    # under whichever parent the resource hangs from.
    parent_key: Mapped[str] = mapped_column(String(48), nullable=False)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True
    )
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subject.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("session.id", ondelete="CASCADE"), index=True
    )
    scan_id: Mapped[int | None] = mapped_column(
        ForeignKey("scan.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    format: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class File(Base):
    __tablename__ = "file"
    __table_args__ = (UniqueConstraint("resource_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resource.id", ondelete="CASCADE"), nullable=False, index=True
    )
    path: Mapped[str] = mapped_column(String(1024), nullable=False)  # POSIX, inside files/
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    md5: Mapped[str] = mapped_column(String(32), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # CRC-32 (APPNOTE 4.4.7), for zip downloads that send sizes and CRC ahead of the bytes.
    # None for a file not read since it was added (migration 0008 fills what it can read):
    # the zip writer then computes it as it opens the file.
    crc32: Mapped[int | None] = mapped_column(BigInteger)
    format: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )

    resource: Mapped[Resource] = relationship(lazy="raise")
