"""The one way into scandepot for DICOM: C-STORE, uploads and STOW all end here.

Each instance is written durably to the prearchive spool and recorded in the catalog
before the caller is told it was stored. Instances are grouped into staging sessions by
(project, StudyInstanceUID).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.archive.models import Project, Scan, Session
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.dicom.headers import Header, read_header
from scandepot.dicom.routing import Route, route
from scandepot.prearchive.models import UNASSIGNED, Instance, PrearchiveSession, Status
from scandepot.storage.store import StagedFile

log = logging.getLogger("scandepot.ingest")


@dataclass(frozen=True, slots=True)
class Source:
    """Where instances come from, and what the sender asked for."""

    kind: str  # "dicom", "upload", "stow"
    called_ae: str = ""
    calling_ae: str = ""
    address: str | None = None
    # Given by an upload: they win over what routing derives from the headers.
    project: str | None = None
    subject: str | None = None
    session: str | None = None
    # The project configured for the AE title the sender called (routing rule 3).
    default_project: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.calling_ae}" if self.calling_ae else self.kind


@dataclass(frozen=True, slots=True)
class Received:
    prearchive_id: int | None
    duplicate: bool = False  # the same bytes were already held: nothing added
    conflict: bool = False  # the same UID with other bytes: kept aside and flagged


def spool_path(ctx: Context, prearchive_id: int, header: Header, suffix: str = "") -> Path:
    return (
        ctx.store.data_dir
        / "prearchive"
        / str(prearchive_id)
        / header.SeriesInstanceUID
        / f"{header.SOPInstanceUID}{suffix}.dcm"
    )


def _route(ctx: Context, header: Header, source: Source) -> Route:
    routed = route(header, default_project=source.default_project)
    if source.project is None:
        return routed
    return Route(
        project=source.project,
        subject=source.subject or routed.subject,
        session=source.session or routed.session,
        rule="given",
    )


def _staging_session(
    db: DBSession, project_key: str, header: Header, routed: Route, source: Source
) -> PrearchiveSession:
    query = select(PrearchiveSession).where(
        PrearchiveSession.project_key == project_key,
        PrearchiveSession.StudyInstanceUID == header.StudyInstanceUID,
    )
    staged = db.scalar(query)
    if staged is not None:
        return staged
    try:
        with db.begin_nested():
            staged = PrearchiveSession(
                project_key=project_key,
                StudyInstanceUID=header.StudyInstanceUID,
                subject=routed.subject,
                session=routed.session,
                status=Status.RECEIVING,
                routing={"rule": routed.rule, "project": routed.project},
                problems=[],
                scans=[],
                source=source.label[:128],
                PatientName=header.PatientName,
                PatientID=header.PatientID,
                PatientBirthDate=header.PatientBirthDate,
                PatientSex=header.PatientSex,
                StudyDate=header.StudyDate,
                StudyTime=header.StudyTime,
                StudyDescription=header.StudyDescription,
                AccessionNumber=header.AccessionNumber,
                ReferringPhysicianName=header.ReferringPhysicianName,
                InstitutionName=header.InstitutionName,
                Manufacturer=header.Manufacturer,
                ManufacturerModelName=header.ManufacturerModelName,
                StationName=header.StationName,
                MagneticFieldStrength=header.MagneticFieldStrength,
            )
            if routed.project is not None and project_key == UNASSIGNED:
                staged.problems = [f"Project '{routed.project}' does not exist."]
            db.add(staged)
    except IntegrityError:
        staged = db.scalar(query)
        if staged is None:
            raise
    return staged


def _archived_copy(db: DBSession, project_id: int, header: Header) -> Instance | None:
    """The archived instance of this project with the same SOP Instance UID, if any."""
    return db.scalar(
        select(Instance)
        .join(Scan, Instance.scan_id == Scan.id)
        .join(Session, Scan.session_id == Session.id)
        .where(Instance.SOPInstanceUID == header.SOPInstanceUID, Session.project_id == project_id)
        .limit(1)
    )


def receive(
    ctx: Context, staged_file: StagedFile, source: Source, *, header: Header | None = None
) -> Received:
    """File one instance. The caller discards ``staged_file`` afterwards (a no-op once
    published). Raises :class:`~scandepot.dicom.headers.NotDicom` for what cannot be filed."""
    digest = staged_file.finish()
    header = header or read_header(staged_file.tmp_path)
    routed = _route(ctx, header, source)
    published: Path | None = None
    try:
        with ctx.db.write() as db:
            project_id = None
            if routed.project is not None:
                project_id = db.scalar(select(Project.id).where(Project.label == routed.project))
            project_key = routed.project if project_id is not None else UNASSIGNED
            assert project_key is not None
            if project_id is not None:
                archived = _archived_copy(db, project_id, header)
                if archived is not None and archived.sha256 == digest.sha256:
                    return Received(None, duplicate=True)
            staging = _staging_session(db, project_key, header, routed, source)
            held = db.scalar(
                select(Instance).where(
                    Instance.prearchive_id == staging.id,
                    Instance.SOPInstanceUID == header.SOPInstanceUID,
                    Instance.duplicate_of.is_(None),
                )
            )
            if held is not None and held.sha256 == digest.sha256:
                staging.last_received_at = utcnow()
                return Received(staging.id, duplicate=True)
            conflict = held is not None
            suffix = f".{digest.sha256[:12]}" if conflict else ""
            dest = spool_path(ctx, staging.id, header, suffix)
            if conflict and dest.exists():  # this very copy arrived before
                return Received(staging.id, duplicate=True)
            db.add(
                Instance(
                    prearchive_id=staging.id,
                    SOPInstanceUID=header.SOPInstanceUID,
                    SOPClassUID=header.SOPClassUID,
                    TransferSyntaxUID=header.TransferSyntaxUID,
                    StudyInstanceUID=header.StudyInstanceUID,
                    SeriesInstanceUID=header.SeriesInstanceUID,
                    SeriesNumber=header.SeriesNumber,
                    SeriesDescription=header.SeriesDescription,
                    Modality=header.Modality,
                    BodyPartExamined=header.BodyPartExamined,
                    InstanceNumber=header.InstanceNumber,
                    NumberOfFrames=header.NumberOfFrames,
                    spool_path=str(dest.relative_to(ctx.store.data_dir)),
                    size=digest.size,
                    md5=digest.md5,
                    sha256=digest.sha256,
                    duplicate_of=held.id if held is not None else None,
                )
            )
            if conflict:
                note = (
                    f"Instance {header.SOPInstanceUID} arrived again with other bytes; "
                    "both copies are kept."
                )
                if note not in staging.problems:
                    staging.problems = [*staging.problems, note]
            staging.last_received_at = utcnow()
            if staging.status != Status.RECEIVING:
                staging.status = Status.RECEIVING
            db.flush()
            staged_file.publish(dest)
            published = dest
    except BaseException:
        if published is not None:
            published.unlink(missing_ok=True)
        raise
    return Received(staging.id, conflict=conflict)
