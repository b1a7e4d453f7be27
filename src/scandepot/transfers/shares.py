"""Sharing: a subject or session of one project shown in another under a label of that
project, as XNAT shares them. No bytes are copied: the object stays its owning project's,
is read through the other project with that project's access rules (archive/shared.py),
and is changed only at home.

Sharing takes read on the owning project and write (member) on the other; sharing a
session shares its subject too when it is not shared there yet (a session lives under a
subject in every project). Unsharing takes write on the project it is shared into, or
manage on the owning one; unsharing a subject unshares its sessions there too.
docs/transfers.md is the user's page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import aliased

from scandepot.access import audit, permissions
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, Level
from scandepot.archive import projects, sessions, shared, subjects
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.labels import check_label, find_labelled, label_taken
from scandepot.catalog.transfers import Share, ShareKind
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound


@dataclass(frozen=True, slots=True)
class ShareView:
    """One share: what is shared (by its labels in the owning project) and where to."""

    kind: ShareKind
    id: str  # the site-wide ID of what is shared
    owner: str  # the project that owns it
    subject: str  # the subject's label there
    session: str | None  # the session's label there; None for a share of a subject
    project: str  # the project it is shared into
    label: str  # its label in that project
    created_by: str
    created_at: dt.datetime


def _target_key(kind: ShareKind, object_id: int) -> str:
    return f"{kind.value}:{object_id}"


def _views(db: DBSession, *where: ColumnElement[bool]) -> list[ShareView]:
    """The shares that ``where`` picks, with their objects and projects: one query."""
    into = aliased(Project)
    owner = aliased(Project)
    stmt = (
        select(
            Share,
            Subject.stable_id,
            Subject.label,
            Session.stable_id,
            Session.label,
            owner.label,
            into.label,
        )
        .join(Subject, Subject.id == Share.subject_id)
        .outerjoin(Session, Session.id == Share.session_id)
        .join(owner, owner.id == Subject.project_id)
        .join(into, into.id == Share.project_id)
        .where(*where)
        .order_by(Share.kind.desc(), into.label, Share.label, Share.id)
    )
    views = []
    for share, subject_id, subject, session_id, session, owner_label, into_label in db.execute(
        stmt
    ).all():
        views.append(
            ShareView(
                kind=ShareKind(share.kind),
                id=session_id or subject_id,
                owner=owner_label,
                subject=subject,
                session=session,
                project=into_label,
                label=share.label,
                created_by=share.created_by,
                created_at=share.created_at,
            )
        )
    return views


def _view(db: DBSession, share: Share) -> ShareView:
    return _views(db, Share.id == share.id)[0]


def _at_home(obj: Subject | Session, kind: ShareKind, label: str) -> None:
    """Only the owning project shares its objects: one seen through a share is not."""
    if obj.shared_label is not None:
        raise shared.shared_from(kind.value, label, obj.project.label)


def _destination(db: DBSession, actor: Actor, into: str, owner: Project) -> Project:
    target = projects.load(db, actor, into, Action.CREATE)
    if target.id == owner.id:
        raise Invalid(
            f"Project '{owner.label}' owns it already: share it into another project.",
            field="project",
        )
    return target


def _existing(db: DBSession, into: Project, kind: ShareKind, object_id: int) -> Share | None:
    return db.scalar(
        select(Share).where(
            Share.project_id == into.id, Share.target_key == _target_key(kind, object_id)
        )
    )


def _free(db: DBSession, into: Project, kind: ShareKind, label: str) -> None:
    """Refuse ``label`` when an object of ``into``, or another share there, holds it."""
    model = Subject if kind == ShareKind.SUBJECT else Session
    scope = model.project_id == into.id
    if label_taken(db, model.id, model.label, scope, label) or shared.label_taken(
        db, into.id, kind, label
    ):
        raise Conflict(
            f"A {kind.value} labelled '{label}' already exists in project '{into.label}'.",
            field="label",
        )


def _add(
    db: DBSession, actor: Actor, into: Project, kind: ShareKind, obj: Subject | Session, label: str
) -> Share:
    existing = _existing(db, into, kind, obj.id)
    if existing is not None:
        raise Conflict(
            f"{kind.value.capitalize()} '{obj.label}' of project '{obj.project.label}' is "
            f"shared into project '{into.label}' already, as '{existing.label}'.",
            field=kind.value,
        )
    _free(db, into, kind, label)
    subject_id = obj.id if isinstance(obj, Subject) else obj.subject_id
    share = Share(
        kind=kind.value,
        target_key=_target_key(kind, obj.id),
        project_id=into.id,
        subject_id=subject_id,
        session_id=obj.id if isinstance(obj, Session) else None,
        label=label,
        created_by=actor.login,
    )
    db.add(share)
    db.flush()
    target = obj.label if isinstance(obj, Subject) else f"{obj.subject.label}/{obj.label}"
    audit.record(
        db,
        actor,
        AuditAction.SHARE_ADDED,
        project=obj.project.label,
        target=target,
        kind=kind.value,
        into=into.label,
        label=label,
    )
    return share


def share_subject(
    ctx: Context, actor: Actor, project: str, subject: str, into: str, label: str | None = None
) -> ShareView:
    """Share subject ``subject`` of ``project`` into project ``into`` as ``label`` (its own
    label when None)."""
    with ctx.db.write() as db:
        found = subjects.load(db, actor, project, subject, Action.READ)
        _at_home(found, ShareKind.SUBJECT, subject)
        target = _destination(db, actor, into, found.project)
        new_label = check_label(label if label is not None else found.label)
        return _view(db, _add(db, actor, target, ShareKind.SUBJECT, found, new_label))


def share_session(
    ctx: Context, actor: Actor, project: str, session: str, into: str, label: str | None = None
) -> ShareView:
    """Share session ``session`` of ``project`` into project ``into`` as ``label`` (its own
    label when None), and its subject under the subject's own label when that is not
    shared there yet."""
    with ctx.db.write() as db:
        found = sessions.load(db, actor, project, session, Action.READ)
        _at_home(found, ShareKind.SESSION, session)
        target = _destination(db, actor, into, found.project)
        new_label = check_label(label if label is not None else found.label)
        if _existing(db, target, ShareKind.SUBJECT, found.subject_id) is None:
            if _existing(db, target, ShareKind.SESSION, found.id) is None:
                _free(db, target, ShareKind.SESSION, new_label)  # before the subject's
            _add_subject_of(db, actor, target, found)
        return _view(db, _add(db, actor, target, ShareKind.SESSION, found, new_label))


def _add_subject_of(db: DBSession, actor: Actor, into: Project, session: Session) -> None:
    """Share the subject of ``session`` into ``into`` under its own label, as sharing the
    session needs; a clash there says how to share it under another."""
    subject = session.subject
    try:
        _add(db, actor, into, ShareKind.SUBJECT, subject, subject.label)
    except Conflict as exc:
        raise Conflict(
            f"{exc.message} Share subject '{subject.label}' into '{into.label}' under "
            "another label first, then the session.",
            field="subject",
        ) from None


def _may_unshare(db: DBSession, actor: Actor, owner: Project, into: Project) -> None:
    """Write on the project it is shared into, or manage on the owning one."""
    if permissions.level_on(db, actor, into) >= Level.WRITE:
        return
    if permissions.level_on(db, actor, owner) >= Level.MANAGE:
        return
    permissions.require_signed_in(actor)
    if permissions.level_on(db, actor, owner) == Level.NONE:
        raise permissions.project_not_found(owner.label)
    raise Forbidden(
        f"Unsharing takes write on project '{into.label}' or manage on '{owner.label}'."
    )


def _project(db: DBSession, actor: Actor, label: str) -> Project:
    found = db.scalar(select(Project).where(Project.label == label))
    if found is None:
        raise permissions.unknown_project(actor, label)
    return found


def _owned(db: DBSession, owner: Project, kind: ShareKind, label: str) -> Subject | Session:
    found: Subject | Session | None
    if kind == ShareKind.SUBJECT:
        found = find_labelled(db, Subject, owner.id, label)
    else:
        found = find_labelled(db, Session, owner.id, label)
    if found is None:
        raise NotFound(
            f"{kind.value.capitalize()} '{label}' not found in project '{owner.label}'.",
            field=kind.value,
        )
    return found


def unshare(
    ctx: Context, actor: Actor, project: str, kind: ShareKind, label: str, into: str
) -> None:
    """Remove the share of subject or session ``label`` of ``project`` from project
    ``into``; a subject's sessions shared there go with it."""
    permissions.require_signed_in(actor)
    with ctx.db.write() as db:
        owner, target = _project(db, actor, project), _project(db, actor, into)
        _may_unshare(db, actor, owner, target)
        obj = _owned(db, owner, kind, label)
        share = _existing(db, target, kind, obj.id)
        if share is None:
            raise NotFound(
                f"{kind.value.capitalize()} '{label}' of project '{project}' is not shared "
                f"into project '{into}'.",
                field=kind.value,
            )
        removed = [share.label]
        if kind == ShareKind.SUBJECT:
            gone = db.scalars(
                delete(Share)
                .where(Share.project_id == target.id, Share.subject_id == obj.id)
                .where(Share.kind == ShareKind.SESSION.value)
                .returning(Share.label)
            ).all()
            removed += list(gone)
        db.delete(share)
        audit.record(
            db,
            actor,
            AuditAction.SHARE_REMOVED,
            project=owner.label,
            target=label,
            kind=kind.value,
            into=target.label,
            labels=removed,
        )


def shares_of(
    ctx: Context, actor: Actor, project: str, kind: ShareKind, label: str
) -> list[ShareView]:
    """The projects subject or session ``label`` of ``project`` is shared into, those
    the caller may see (a private project it is not in stays unknown to it); seen
    through a share, the share into ``project`` alone (the others are its owner's to
    know)."""
    with ctx.db.read() as db:
        if kind == ShareKind.SUBJECT:
            obj: Subject | Session = subjects.load(db, actor, project, label, Action.READ)
        else:
            obj = sessions.load(db, actor, project, label, Action.READ)
        mine = Share.target_key == _target_key(kind, obj.id)
        if obj.shared_label is None:
            seen = select(Project.id).where(permissions.permission_clause(actor, Level.SEE))
            return _views(db, mine, Share.project_id.in_(seen))
        here = select(Project.id).where(Project.label == project).scalar_subquery()
        return _views(db, mine, Share.project_id == here)


def shares_into(ctx: Context, actor: Actor, project: str) -> list[ShareView]:
    """Every subject and session shared into ``project``, subjects first, by label."""
    with ctx.db.read() as db:
        target = projects.load(db, actor, project, Action.READ)
        return _views(db, Share.project_id == target.id)


@dataclass(frozen=True, slots=True)
class Tried:
    """One session of several to share: shared, or why not."""

    session: str
    share: ShareView | None
    error: str | None


def share_sessions(
    ctx: Context, actor: Actor, project: str, chosen: list[tuple[str, str | None]], into: str
) -> list[Tried]:
    """Share each chosen (session, label there) of ``project`` into ``into``, each on its
    own: one refused does not stop the others, and each says how it went."""
    if not chosen:
        raise Invalid("Choose at least one session to share.", field="sessions")
    tried = []
    for session, label in chosen:
        try:
            view = share_session(ctx, actor, project, session, into, label or None)
        except (Invalid, Conflict, Forbidden, NotFound) as exc:
            tried.append(Tried(session, None, exc.message))
        else:
            tried.append(Tried(session, view, None))
    return tried
