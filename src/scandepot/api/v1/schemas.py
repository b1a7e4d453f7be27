"""What the native API returns: plain JSON shapes built from the catalog objects."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from scandepot.access.permissions import Level
from scandepot.archive.files import UploadResult
from scandepot.archive.projects import ProjectView
from scandepot.archive.resources import ResourceView
from scandepot.catalog.archive import File, Scan, Session, Subject
from scandepot.catalog.paging import Page

T = TypeVar("T")

API = "/api/v1"


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next: str | None = None  # give it as ``after`` for the next page; null on the last


class Counts(BaseModel):
    subjects: int
    sessions: int
    scans: int


class ProjectSettingsOut(BaseModel):
    upload_destination: str
    allow_subject_creation: bool
    bulk_upload_allowed: bool
    series_filter_mode: str
    series_filter: list[str]
    notification_recipients: list[str]
    conflict_policy: str
    session_complete_after_min: int


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str
    keywords: list[str]
    accessibility: str
    counts: Counts
    role: str | None
    # Only for those who may read the project, not for those who merely see it listed.
    settings: ProjectSettingsOut | None
    created_at: dt.datetime
    updated_at: dt.datetime
    url: str


class SharedFrom(BaseModel):
    """Where an object seen through a share lives: its owning project and its labels
    there (docs/transfers.md)."""

    project: str
    label: str
    subject: str | None = None  # a session's subject, by its label in the owning project


class SubjectOut(BaseModel):
    id: str
    label: str
    project: str
    # Set when the subject is shared into ``project`` from the project that owns it: it
    # is read there, and changed only at home.
    shared_from: SharedFrom | None = None
    sex: str | None
    age: int | None
    birth_year: int | None
    group: str | None
    fields: dict[str, str]
    created_at: dt.datetime
    updated_at: dt.datetime
    url: str


class SessionOut(BaseModel):
    id: str
    label: str
    project: str
    shared_from: SharedFrom | None = None  # as SubjectOut's
    subject: str
    subject_id: str
    modality: str | None
    date: dt.date | None
    time: dt.time | None
    note: str
    StudyInstanceUID: str | None
    AccessionNumber: str | None
    StudyDescription: str | None
    PatientName: str | None
    PatientID: str | None
    PatientBirthDate: str | None
    PatientSex: str | None
    ReferringPhysicianName: str | None
    ModalitiesInStudy: str | None
    InstitutionName: str | None
    Manufacturer: str | None
    ManufacturerModelName: str | None
    StationName: str | None
    MagneticFieldStrength: float | None
    created_at: dt.datetime
    updated_at: dt.datetime
    url: str


class ScanOut(BaseModel):
    id: str
    session: str
    project: str
    type: str | None
    SeriesInstanceUID: str | None
    SeriesNumber: int | None
    SeriesDescription: str | None
    Modality: str | None
    BodyPartExamined: str | None
    frames: int | None
    quality: str
    note: str
    created_at: dt.datetime
    updated_at: dt.datetime
    url: str


class ResourceOut(BaseModel):
    label: str
    level: str
    format: str | None
    content: str | None
    file_count: int
    size: int
    created_at: dt.datetime


class FileOut(BaseModel):
    path: str
    size: int
    md5: str
    sha256: str
    format: str | None
    content: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class UploadOut(FileOut):
    created: bool


_SESSION_DICOM = (
    "StudyInstanceUID AccessionNumber StudyDescription PatientName PatientID PatientBirthDate "
    "PatientSex ReferringPhysicianName ModalitiesInStudy InstitutionName Manufacturer "
    "ManufacturerModelName StationName MagneticFieldStrength"
).split()


def project_out(view: ProjectView) -> ProjectOut:
    p = view.project
    settings = None
    if view.level >= Level.READ:
        settings = ProjectSettingsOut.model_validate(p, from_attributes=True)
    return ProjectOut(
        id=p.label,
        name=p.name,
        description=p.description,
        keywords=p.keywords,
        accessibility=p.accessibility,
        counts=Counts(subjects=view.subjects, sessions=view.sessions, scans=view.scans),
        role=view.role.word if view.role is not None else None,
        settings=settings,
        created_at=p.created_at,
        updated_at=p.updated_at,
        url=f"{API}/projects/{p.label}",
    )


def subject_out(s: Subject, seen_in: str | None = None) -> SubjectOut:
    """``s`` as the API shows it; ``seen_in``: the project it was asked through, where a
    shared subject shows under its label there, with where it comes from."""
    if s.shared_label is not None and seen_in is not None:
        out = subject_out(s)
        return out.model_copy(
            update={
                "label": s.shared_label,
                "project": seen_in,
                "url": f"{API}/projects/{seen_in}/subjects/{s.shared_label}",
                "shared_from": SharedFrom(project=s.project.label, label=s.label),
            }
        )
    return SubjectOut(
        id=s.stable_id,
        label=s.label,
        project=s.project.label,
        sex=s.sex,
        age=s.age,
        birth_year=s.birth_year,
        group=s.group,
        fields=s.fields,
        created_at=s.created_at,
        updated_at=s.updated_at,
        url=f"{API}/projects/{s.project.label}/subjects/{s.label}",
    )


def session_out(s: Session, seen_in: str | None = None) -> SessionOut:
    """``s`` as the API shows it; ``seen_in`` as for :func:`subject_out`."""
    if s.shared_label is not None and seen_in is not None:
        shared_from = SharedFrom(project=s.project.label, label=s.label, subject=s.subject.label)
        return session_out(s).model_copy(
            update={
                "label": s.shared_label,
                "project": seen_in,
                "subject": s.shared_subject_label or s.subject.label,
                "url": f"{API}/projects/{seen_in}/sessions/{s.shared_label}",
                "shared_from": shared_from,
            }
        )
    dicom: dict[str, Any] = {key: getattr(s, key) for key in _SESSION_DICOM}
    return SessionOut(
        id=s.stable_id,
        label=s.label,
        project=s.project.label,
        subject=s.subject.label,
        subject_id=s.subject.stable_id,
        modality=s.modality,
        date=s.date,
        time=s.time,
        note=s.note,
        created_at=s.created_at,
        updated_at=s.updated_at,
        url=f"{API}/projects/{s.project.label}/sessions/{s.label}",
        **dicom,
    )


def scan_out(c: Scan) -> ScanOut:
    project, session = c.session.project.label, c.session.label
    return ScanOut(
        id=c.label,
        session=session,
        project=project,
        type=c.type,
        SeriesInstanceUID=c.SeriesInstanceUID,
        SeriesNumber=c.SeriesNumber,
        SeriesDescription=c.SeriesDescription,
        Modality=c.Modality,
        BodyPartExamined=c.BodyPartExamined,
        frames=c.frames,
        quality=c.quality,
        note=c.note,
        created_at=c.created_at,
        updated_at=c.updated_at,
        url=f"{API}/projects/{project}/sessions/{session}/scans/{c.label}",
    )


def resource_out(view: ResourceView) -> ResourceOut:
    r = view.resource
    return ResourceOut(
        label=r.label,
        level=r.level,
        format=r.format,
        content=r.content,
        file_count=view.file_count,
        size=view.size,
        created_at=r.created_at,
    )


def file_out(f: File) -> FileOut:
    return FileOut.model_validate(f, from_attributes=True)


def upload_out(result: UploadResult) -> UploadOut:
    return UploadOut(**file_out(result.file).model_dump(), created=result.created)


def page_out(page: Page[Any], convert: Callable[[Any], T]) -> PageOut[T]:
    return PageOut[T](
        items=[convert(item) for item in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next=page.next,
    )


class ManifestFileOut(BaseModel):
    name: str  # where the file is in the archive (and under DEST for `scandepot download`)
    size: int
    sha256: str
    md5: str
    url: str  # its single-file download route (Range, If-Range and ETag work there)
    subject: str | None
    session: str | None
    scan: str | None
    scan_type: str | None
    resource: str
    path: str


class ManifestOut(BaseModel):
    manifest_version: int
    project: str
    layout: str
    selection: dict[str, Any]
    created: str
    file_count: int
    total_size: int
    files: list[ManifestFileOut]
