"""The one way into scandepot for DICOM: C-STORE, uploads and STOW all end here.

Each instance is written durably to the prearchive spool and recorded in the catalog
before the caller is told it was stored. Instances are grouped into staging sessions by
(project, StudyInstanceUID).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sqlalchemy import Table, select, update
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
    # Keep the staged session for an explicit archive request (uploads to the prearchive,
    # and uploads that archive once every file is in).
    hold: bool = False
    # An instance archived in the project with the same bytes counts as held already;
    # not so for an upload that replaces the archived session.
    skip_archived: bool = True

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


def route_for(header: Header, source: Source) -> Route:
    """Where ``header``'s instance goes for ``source``: what it gives wins over the rules."""
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
) -> tuple[int, list[str]]:
    """The staging session's ID and problems, created on the study's first instance."""
    query = select(PrearchiveSession.id, PrearchiveSession.problems).where(
        PrearchiveSession.project_key == project_key,
        PrearchiveSession.StudyInstanceUID == header.StudyInstanceUID,
    )
    found = db.execute(query).first()
    if found is not None:
        return found.id, list(found.problems)
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
                hold=source.hold,
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
        found = db.execute(query).first()
        if found is None:
            raise
        return found.id, list(found.problems)
    return staged.id, list(staged.problems)


def _archived_copy(db: DBSession, project_id: int, header: Header) -> str | None:
    """The SHA-256 of this project's archived instance with the same UID, if any."""
    return db.scalar(
        select(Instance.sha256)
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
    routed = route_for(header, source)
    published: Path | None = None
    instances = cast(Table, Instance.__table__)
    now = utcnow()
    try:
        # Plain statements on the hot path: one small transaction per instance.
        with ctx.db.write() as db:
            project_id = None
            if routed.project is not None:
                project_id = db.scalar(select(Project.id).where(Project.label == routed.project))
            project_key = routed.project if project_id is not None else UNASSIGNED
            assert project_key is not None
            if project_id is not None and source.skip_archived:
                archived = _archived_copy(db, project_id, header)
                if archived is not None and archived == digest.sha256:
                    return Received(None, duplicate=True)
            staging_id, problems = _staging_session(db, project_key, header, routed, source)
            held = db.execute(
                select(instances.c.id, instances.c.sha256).where(
                    instances.c.prearchive_id == staging_id,
                    instances.c.sop_instance_uid == header.SOPInstanceUID,
                    instances.c.duplicate_of.is_(None),
                )
            ).first()
            if held is not None and held.sha256 == digest.sha256:
                db.execute(
                    update(PrearchiveSession)
                    .where(PrearchiveSession.id == staging_id)
                    .values(last_received_at=now)
                )
                return Received(staging_id, duplicate=True)
            conflict = held is not None
            suffix = f".{digest.sha256[:12]}" if conflict else ""
            dest = spool_path(ctx, staging_id, header, suffix)
            if conflict and dest.exists():  # this very copy arrived before
                return Received(staging_id, duplicate=True)
            db.execute(
                instances.insert().values(
                    prearchive_id=staging_id,
                    sop_instance_uid=header.SOPInstanceUID,
                    sop_class_uid=header.SOPClassUID,
                    transfer_syntax_uid=header.TransferSyntaxUID,
                    study_instance_uid=header.StudyInstanceUID,
                    series_instance_uid=header.SeriesInstanceUID,
                    series_number=header.SeriesNumber,
                    series_description=header.SeriesDescription,
                    modality=header.Modality,
                    body_part_examined=header.BodyPartExamined,
                    instance_number=header.InstanceNumber,
                    number_of_frames=header.NumberOfFrames,
                    spool_path=str(dest.relative_to(ctx.store.data_dir)),
                    size=digest.size,
                    md5=digest.md5,
                    sha256=digest.sha256,
                    duplicate_of=held.id if held is not None else None,
                    received_at=now,
                )
            )
            values: dict[str, object] = {"last_received_at": now, "status": Status.RECEIVING}
            if source.hold:
                values["hold"] = True
            if conflict:
                note = (
                    f"Instance {header.SOPInstanceUID} arrived again with other bytes; "
                    "both copies are kept."
                )
                if note not in problems:
                    values["problems"] = [*problems, note]
            db.execute(
                update(PrearchiveSession).where(PrearchiveSession.id == staging_id).values(values)
            )
            staged_file.publish(dest)
            published = dest
    except BaseException:
        if published is not None:
            published.unlink(missing_ok=True)
        raise
    return Received(staging_id, conflict=conflict)
