"""What people do with staged sessions: list, show, relabel, move, rebuild, archive, delete.

Members work on their project's staged sessions (see, relabel, rebuild); owners also
archive them, move them into the project and delete them; unassigned sessions are for
site administrators, and for the owners of the project their routing names (matched
ignoring case): a session that could not reach its project is shown to the people who
can put it there, with the reason among its problems. Each staged session holds exactly
one study (sessions are keyed by Study Instance UID), so studies never need separating.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit, permissions
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, Level
from scandepot.archive import projects
from scandepot.catalog.archive import Project, Session
from scandepot.catalog.labels import by_label, check_label, find_labelled
from scandepot.catalog.paging import Page, PageRequest, paginate
from scandepot.catalog.prearchive import UNASSIGNED, Instance, StagedSession, Status
from scandepot.context import Context
from scandepot.dicom.routing import clean
from scandepot.errors import Conflict, NotFound, Unauthorized
from scandepot.prearchive import archiver, builder, problems, settle
from scandepot.prearchive.archiver import Archived
from scandepot.prearchive.destination import archives_after_build
from scandepot.prearchive.problems import Kind
from scandepot.storage import spool

VISIBLE = Action.PREARCHIVE.level  # the level below which staged sessions stay unseen


class Relabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = None  # a move
    subject: str | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class StagedView:
    staged: StagedSession
    files: int
    size: int
    # Archived once built, without anyone asking (the project's upload destination, unless
    # an upload holds it in the prearchive).
    autoarchive: bool = False


MAX_ID = 2**63 - 1  # the largest ID a catalog holds (BIGINT); beyond it nothing exists


def _not_found(staged_id: int) -> NotFound:
    return NotFound(f"Staged session {staged_id} not found.", field="id")


def load(db: DBSession, actor: Actor, staged_id: int, action: Action) -> StagedSession:
    """The staged session, if ``actor`` may do ``action`` on it; fails closed.

    Staged sessions are numbered from 1, so whoever may not see a staged session is told
    exactly what they would be told of a number never given: the same status and message,
    never the project's name, or a 403 that says it exists.
    """
    staged = db.get(StagedSession, staged_id) if 0 < staged_id <= MAX_ID else None
    if staged is None:
        raise Unauthorized() if actor.is_anonymous else _not_found(staged_id)
    if staged.project_key == UNASSIGNED:
        if actor.is_site_admin or _owns_routed(db, actor, staged):
            return staged
        raise Unauthorized() if actor.is_anonymous else _not_found(staged_id)
    project = db.scalar(by_label(select(Project), Project.label, staged.project_key))
    if project is None or permissions.level_on(db, actor, project) < VISIBLE:
        raise Unauthorized() if actor.is_anonymous else _not_found(staged_id)
    permissions.require(db, actor, action, project)
    return staged


def _owns_routed(db: DBSession, actor: Actor, staged: StagedSession) -> bool:
    routed = builder.routed_project(staged)
    if routed is None or actor.is_anonymous:
        return False
    project = db.scalar(by_label(select(Project), Project.label, routed))
    return project is not None and permissions.level_on(db, actor, project) >= Level.MANAGE


def _visible(actor: Actor) -> ColumnElement[bool]:
    """The staged sessions ``actor`` may list: those of projects they work in, and the
    unassigned ones whose routing names a project they own (:func:`_owns_routed`)."""
    allowed = select(Project.label).where(permissions.permission_clause(actor, Level.WRITE))
    owned = select(func.lower(Project.label)).where(
        permissions.permission_clause(actor, Level.MANAGE)
    )
    routed = func.lower(StagedSession.routing["project"].as_string())
    return or_(
        StagedSession.project_key.in_(allowed),
        and_(StagedSession.project_key == UNASSIGNED, routed.in_(owned)),
    )


def _view(db: DBSession, staged: StagedSession) -> StagedView:
    files, size = db.execute(
        select(func.count(Instance.id), func.coalesce(func.sum(Instance.size), 0)).where(
            Instance.staged_id == staged.id
        )
    ).one()
    destination = db.scalar(
        select(Project.upload_destination).where(Project.label == staged.project_key)
    )
    return StagedView(staged, int(files), int(size), _automatic(staged, destination))


def list_staged(
    ctx: Context,
    actor: Actor,
    page: PageRequest,
    *,
    project: str | None = None,
    status: Status | None = None,
) -> Page[StagedView]:
    permissions.require_signed_in(actor)
    stmt = select(StagedSession)
    if not actor.is_site_admin:
        stmt = stmt.where(_visible(actor))
    if project is not None:
        stmt = stmt.where(StagedSession.project_key == ("" if project == "unassigned" else project))
    if status is not None:
        stmt = stmt.where(StagedSession.status == status.value)
    with ctx.db.read() as db:
        found = paginate(
            db,
            stmt,
            page,
            sort_fields={
                "received": StagedSession.last_received_at,
                "created": StagedSession.created_at,
                "project": StagedSession.project_key,
                "status": StagedSession.status,
            },
            default_sort="-received",
            tiebreak=StagedSession.id,
        )
        items = [_view(db, s) for s in found.items]
    return found.with_items(items)


def list_every(ctx: Context, actor: Actor, *, project: str | None = None) -> list[StagedView]:
    """Every staged session ``actor`` may list, oldest first; of one project (``""``: the
    unassigned ones) when ``project`` is given, which must be a project they work in."""
    permissions.require_signed_in(actor)
    counts = (
        select(
            Instance.staged_id,
            func.count(Instance.id).label("files"),
            func.coalesce(func.sum(Instance.size), 0).label("size"),
        )
        .where(Instance.staged_id.is_not(None))  # not the archive's instances
        .group_by(Instance.staged_id)
        .subquery()
    )
    stmt = (
        select(StagedSession, counts.c.files, counts.c.size, Project.upload_destination)
        .outerjoin(counts, counts.c.staged_id == StagedSession.id)
        .outerjoin(Project, Project.label == StagedSession.project_key)
        .order_by(StagedSession.created_at, StagedSession.id)
    )
    if not actor.is_site_admin:
        stmt = stmt.where(_visible(actor))
    with ctx.db.read() as db:
        if project:
            project = projects.load(db, actor, project, Action.PREARCHIVE).label
        if project is not None:
            stmt = stmt.where(StagedSession.project_key == project)
        rows = db.execute(stmt).all()
        return [
            StagedView(s, int(files or 0), int(size or 0), _automatic(s, destination))
            for s, files, size, destination in rows
        ]


def _automatic(staged: StagedSession, destination: str | None) -> bool:
    return not staged.hold and archives_after_build(destination)


def get(ctx: Context, actor: Actor, staged_id: int) -> StagedView:
    with ctx.db.read() as db:
        return _view(db, load(db, actor, staged_id, Action.PREARCHIVE))


def _busy(staged: StagedSession) -> None:
    if staged.status in settle.BUSY:
        raise Conflict(f"Staged session {staged.id} is {staged.status}; try again shortly.")


def relabel(ctx: Context, actor: Actor, staged_id: int, data: Relabel) -> StagedView:
    """Change the subject or session label, or move the session to another project
    (owners of the target project, or site admins); the session is rebuilt."""
    with ctx.db.write() as db:
        staged = load(db, actor, staged_id, Action.PREARCHIVE)
        _busy(staged)
        changes: dict[str, str | None] = {}
        if data.project is not None and data.project != staged.project_key:
            if staged.project_key != UNASSIGNED:
                projects.load(db, actor, staged.project_key, Action.ARCHIVE)
            target = projects.load(db, actor, data.project, Action.ARCHIVE)
            clash = db.scalar(
                select(StagedSession.id).where(
                    StagedSession.project_key == target.label,
                    StagedSession.StudyInstanceUID == staged.StudyInstanceUID,
                )
            )
            if clash is not None:
                raise Conflict(
                    f"Project '{target.label}' already holds this study in staged session "
                    f"{clash}; archive or delete that one first."
                )
            changes["project"] = staged.project_key or None
            staged.project_key = target.label
            staged.problem_records = problems.without(staged.problem_records, Kind.PROJECT)
        if data.subject is not None:
            changes["subject"] = staged.subject
            staged.subject = check_label(data.subject, field="subject")
        if data.session is not None:
            changes["session"] = staged.session
            staged.session = check_label(data.session, field="session")
        builder.build(db, staged)
        audit.record(
            db,
            actor,
            AuditAction.PREARCHIVE_RELABELLED,
            project=staged.project_key or None,
            target=f"prearchive:{staged.id}",
            **{f"old_{k}": v for k, v in changes.items()},
        )
        return _view(db, staged)


def rebuild(ctx: Context, actor: Actor, staged_id: int) -> StagedView:
    with ctx.db.write() as db:
        staged = load(db, actor, staged_id, Action.PREARCHIVE)
        _busy(staged)
        builder.build(db, staged)
        return _view(db, staged)


def archive(
    ctx: Context, actor: Actor, staged_id: int, *, overwrite: bool = False, merge: bool = True
) -> Archived:
    """Owners archive staged sessions; in a project that archives what arrives by itself
    (upload destination ``archive``), members may too, rather than wait for the builder:
    that is how an upload held in the prearchive is finished. ``merge=False`` refuses to
    add to a session archived under the label already (XNAT's ``overwrite=none``)."""
    with ctx.db.read() as db:
        staged = _archivable(db, actor, staged_id, overwrite=overwrite)
        if not merge:
            _refuse_merge(db, staged)
    return archiver.archive(ctx, actor, staged_id, overwrite=overwrite)


def _archivable(db: DBSession, actor: Actor, staged_id: int, *, overwrite: bool) -> StagedSession:
    """The staged session, if ``actor`` may archive it now (see :func:`archive`)."""
    staged = load(db, actor, staged_id, Action.PREARCHIVE)
    destination = db.scalar(
        select(Project.upload_destination).where(Project.label == staged.project_key)
    )
    if not archives_after_build(destination) or overwrite:
        staged = load(db, actor, staged_id, Action.ARCHIVE)
    _busy(staged)
    return staged


def archive_relabelled(
    ctx: Context,
    actor: Actor,
    staged_id: int,
    labels: Relabel,
    *,
    overwrite: bool = False,
    merge: bool = True,
) -> Archived:
    """Relabel (or move) the staged session, then archive it, as one request: whoever may
    not archive it changes nothing, and a refused archive gives the old labels back."""
    with ctx.db.read() as db:
        before = _archivable(db, actor, staged_id, overwrite=overwrite)
        old = Relabel(
            project=before.project_key or None, subject=before.subject, session=before.session
        )
    relabel(ctx, actor, staged_id, labels)
    try:
        return archive(ctx, actor, staged_id, overwrite=overwrite, merge=merge)
    except Exception:
        relabel(ctx, actor, staged_id, old)
        raise


def _refuse_merge(db: DBSession, staged: StagedSession) -> None:
    label = clean(staged.session)
    project = db.scalar(by_label(select(Project), Project.label, staged.project_key))
    if label is None or project is None:
        return
    if find_labelled(db, Session, project.id, label) is not None:
        raise Conflict(
            f"Session '{label}' is archived already in project '{project.label}'; archive "
            "with overwrite=append to add to it, or relabel the staged session."
        )


def delete(ctx: Context, actor: Actor, staged_id: int) -> None:
    with ctx.db.write() as db:
        staged = load(db, actor, staged_id, Action.ARCHIVE)
        _busy(staged)
        audit.record(
            db,
            actor,
            AuditAction.PREARCHIVE_DELETED,
            project=staged.project_key or None,
            target=f"prearchive:{staged.id}",
            StudyInstanceUID=staged.StudyInstanceUID,
        )
        db.delete(staged)
    ctx.store.remove_tree(spool.folder(ctx.store, staged_id))


@dataclass(frozen=True, slots=True)
class StagedFile:
    scan: str  # the scan the last build made of its series (its Series Instance UID before)
    SOPInstanceUID: str
    path: Path
    size: int
    crc32: int | None
    received_at: datetime


def staged_files(
    ctx: Context,
    actor: Actor,
    staged_id: int,
    *,
    scan: str | None = None,
    SOPInstanceUID: str | None = None,
) -> list[StagedFile]:
    """The files of a staged session by scan, for a download of it; of one scan, or the
    one instance, when asked (none: nothing matches)."""
    with ctx.db.read() as db:
        staged = load(db, actor, staged_id, Action.PREARCHIVE)
        scans = {s["SeriesInstanceUID"]: s["id"] for s in staged.scans if "SeriesInstanceUID" in s}
        stmt = select(Instance).where(
            Instance.staged_id == staged.id, Instance.spool_path.is_not(None)
        )
        if scan is not None:
            series = [uid for uid, label in scans.items() if label == scan] or [scan]
            stmt = stmt.where(Instance.SeriesInstanceUID.in_(series))
        if SOPInstanceUID is not None:
            stmt = stmt.where(Instance.SOPInstanceUID == SOPInstanceUID)
        found = db.scalars(
            stmt.order_by(Instance.SeriesInstanceUID, Instance.InstanceNumber, Instance.id)
        ).all()
        return [
            StagedFile(
                scans.get(i.SeriesInstanceUID, i.SeriesInstanceUID),
                i.SOPInstanceUID,
                ctx.store.data_dir / str(i.spool_path),
                i.size,
                i.crc32,
                i.received_at,
            )
            for i in found
        ]
