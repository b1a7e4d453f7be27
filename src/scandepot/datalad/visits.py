"""Visits: a session as the INM-ICF store names it, ``{project}/{visit}``, and the DICOM
files its tarball holds.

The visit ID is the session's site-wide ID (``SD_E00001``), never its label: labels
change (relabel, move between subjects), the ID never does, and a URL registered in a
DataLad dataset must keep working. A relabel therefore changes neither the visit's URLs
nor its tarball (docs/datalad.md, "Visit IDs").

The tarball holds every file of every scan's DICOM resource, named
``{project}_{visit}/{scan}-{type}/{path}`` (the top folder as the INM-ICF archive builder
names it), in the order of their names, each with the study's date and time (StudyDate,
StudyTime, taken as UTC) as its modification time, owned by 0/0 with mode 0644: the same
session gives the same bytes on every request and on every server.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import layout, projects
from scandepot.catalog.archive import File, Resource, Scan, Session
from scandepot.context import Context
from scandepot.errors import NotFound
from scandepot.export.archives import Member
from scandepot.export.layouts import scan_folder

DICOM = "DICOM"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# A visit ID as the catalog makes them (catalog/ids.py): the site ID, '_', a kind letter
# and digits. Checked before anything is looked up or a path is built from it.
VISIT_ID = re.compile(r"^[A-Za-z0-9]{1,32}_[A-Z][0-9]{1,12}$")


@dataclass(frozen=True, slots=True)
class VisitFile:
    """One file of the tarball, with what the catalog knows of it."""

    name: str  # inside the tarball
    size: int
    md5: str
    path: Path  # on disk
    SeriesNumber: int | None  # (0020,0011)
    SeriesDescription: str | None  # (0008,103E)
    Modality: str | None  # (0008,0060)


@dataclass(frozen=True, slots=True)
class Visit:
    project: str
    project_id: int  # its catalog row
    visit: str  # the session's site-wide ID
    session: str  # its label, for people
    subject: str
    modified: dt.datetime  # every member's time
    files: tuple[VisitFile, ...]  # in tarball order

    @property
    def top(self) -> str:
        return f"{self.project}_{self.visit}"

    @property
    def tar_name(self) -> str:
        return f"{self.visit}_dicom.tar"

    def members(self) -> list[Member]:
        return [Member(f.name, f.size, self.modified, path=str(f.path)) for f in self.files]


def check_visit(visit: str) -> str:
    if not VISIT_ID.fullmatch(visit):
        raise NotFound(f"No visit '{visit}': a visit is named by its session's ID.", field="visit")
    return visit


def study_time(session: Session) -> dt.datetime:
    """StudyDate and StudyTime as one UTC time (the local time as given, read as UTC so
    that every server makes the same bytes); the epoch when the date is unknown."""
    if session.date is None:
        return EPOCH
    moment = dt.datetime.combine(session.date, session.time or dt.time(0))
    return moment.replace(microsecond=0, tzinfo=dt.UTC)


def load_session(db: DBSession, actor: Actor, project: str, visit: str) -> Session:
    """The session of ``project`` whose ID is ``visit``, if ``actor`` may read it."""
    proj = projects.load(db, actor, project, Action.READ)
    session = db.scalar(
        select(Session).where(
            Session.project_id == proj.id, Session.stable_id == check_visit(visit)
        )
    )
    if session is None:
        raise NotFound(f"No visit '{visit}' in project '{project}'.", field="visit")
    return session


def visit_of(ctx: Context, db: DBSession, session: Session) -> Visit:
    project = session.project.label
    visit = session.stable_id
    session_dir = layout.session_dir(project, session.subject.label, session.label)
    rows = db.execute(
        select(
            Scan.label,
            Scan.type,
            Scan.SeriesNumber,
            Scan.SeriesDescription,
            Scan.Modality,
            File.path,
            File.size,
            File.md5,
        )
        .join(Resource, Resource.scan_id == Scan.id)
        .join(File, File.resource_id == Resource.id)
        .where(Scan.session_id == session.id, Resource.label == DICOM)
    ).all()
    top = f"{project}_{visit}"
    files = []
    for scan, scan_type, number, description, modality, path, size, md5 in rows:
        on_disk = layout.resource_files_dir(session_dir / "scans" / scan, DICOM) / path
        name = f"{top}/{scan_folder(scan, scan_type)}/{path}"
        files.append(
            VisitFile(name, size, md5, ctx.archive_path(on_disk), number, description, modality)
        )
    files.sort(key=lambda f: f.name.encode())
    return Visit(
        project,
        session.project_id,
        visit,
        session.label,
        session.subject.label,
        study_time(session),
        tuple(files),
    )


def get(ctx: Context, actor: Actor, project: str, visit: str) -> Visit:
    with ctx.db.read() as db:
        return visit_of(ctx, db, load_session(db, actor, project, visit))


def by_session_id(ctx: Context, session_id: int) -> Visit | None:
    """The visit of a session (for jobs, which act for the system); None once deleted."""
    with ctx.db.read() as db:
        session = db.get(Session, session_id)
        return None if session is None else visit_of(ctx, db, session)
