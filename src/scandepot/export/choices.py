"""What a download can be narrowed to in a project: the resource labels and scan types
present, and a session's single files, for the download page to offer as choices."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import projects, sessions
from scandepot.catalog.archive import File, Resource, Scan, Session
from scandepot.context import Context
from scandepot.export.picked import FileRef

MAX_CHOICES = 500
MAX_FILES = 2000  # files of a session offered one by one; past that, choose scans


@dataclass(frozen=True, slots=True)
class Choices:
    resources: list[str]
    scan_types: list[str]


def download_choices(ctx: Context, actor: Actor, project: str) -> Choices:
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.DOWNLOAD)
        labels = db.scalars(
            select(Resource.label)
            .where(Resource.project_id == proj.id, Resource.session_id.is_not(None))
            .distinct()
            .order_by(Resource.label)
            .limit(MAX_CHOICES)
        ).all()
        types = db.scalars(
            select(Scan.type)
            .join(Session, Session.id == Scan.session_id)
            .where(Session.project_id == proj.id, Scan.type.is_not(None))
            .distinct()
            .order_by(Scan.type)
            .limit(MAX_CHOICES)
        ).all()
    return Choices(list(labels), [t for t in types if t])


def exact_types(types: list[str]) -> str | None:
    """The scan-type pattern that matches exactly the types chosen (and nothing else)."""
    if not types:
        return None
    return "^(" + "|".join(re.escape(t) for t in types) + ")$"


@dataclass(frozen=True, slots=True)
class Offered:
    path: str
    size: int
    name: str  # as the download routes take it (``files``), relative to the project


@dataclass(slots=True)
class FileGroup:
    """The files of one resource of a session: its own, or one of a scan's."""

    scan: str | None
    scan_type: str | None
    resource: str
    files: list[Offered] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SessionFiles:
    session: str
    groups: list[FileGroup]
    total: int  # files in the session; more than those in ``groups`` past MAX_FILES


def _scan_order(scan: str | None) -> tuple[int, int, str]:
    if scan is None:
        return (0, 0, "")
    return (1, int(scan), "") if scan.isdigit() else (2, 0, scan)


def session_files(ctx: Context, actor: Actor, project: str, session: str) -> SessionFiles:
    """The session's files by resource, for a person to tick single ones: its own
    resources first, then each scan's in scan order; at most :data:`MAX_FILES`."""
    with ctx.db.read() as db:
        found = sessions.load(db, actor, project, session, Action.DOWNLOAD)
        in_session = Resource.session_id == found.id
        total = db.scalar(
            select(func.count(File.id))
            .join(Resource, File.resource_id == Resource.id)
            .where(in_session)
        )
        rows = db.execute(
            select(Scan.label, Scan.type, Resource.label, File.path, File.size)
            .join(Resource, File.resource_id == Resource.id)
            .outerjoin(Scan, Resource.scan_id == Scan.id)
            .where(in_session)
            .order_by(Resource.scan_id.is_not(None), Scan.label, Resource.label, File.path)
            .limit(MAX_FILES)
        ).all()
    groups: dict[tuple[str | None, str], FileGroup] = {}
    for scan, scan_type, resource, path, size in rows:
        group = groups.get((scan, resource))
        if group is None:
            group = groups[scan, resource] = FileGroup(scan, scan_type, resource)
        name = str(FileRef(found.label, scan, resource, path))
        group.files.append(Offered(path, size, name))
    ordered = sorted(groups.values(), key=lambda g: (_scan_order(g.scan), g.resource))
    return SessionFiles(found.label, ordered, total or 0)
