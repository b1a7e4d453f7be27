"""Subjects and sessions shared into a project (XNAT sharing, transfers.Share): found there
by their label in that project, read with that project's access rules, changed only in
the project that owns them.

This is the one place that turns "label L in project P" into a shared object. The loaders
(archive/subjects.py, archive/sessions.py ``load``) ask it when P holds no object of its
own labelled L, and the listings take their condition and labels from it, so a listing of
P and its shared objects stays one query. A shared object is handed out as its own ORM row
(its project is the owning one: paths and files are unchanged) with ``shared_label`` (and
for a session ``shared_subject_label``) set to its labels in P.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, and_, or_, select, union_all
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import aliased, with_expression
from sqlalchemy.sql.base import ExecutableOption

from scandepot.access.permissions import Action, Level
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.labels import by_label, same_label
from scandepot.catalog.transfers import Share, ShareKind
from scandepot.errors import Conflict, Forbidden


def shared_from(kind: str, label: str, owner: str) -> Forbidden:
    """The refusal of a change asked through a project the object is shared into."""
    return Forbidden(
        f"{kind.capitalize()} '{label}' is shared from project '{owner}'; change it there."
    )


def _read_only(action: Action, kind: str, label: str, owner: str) -> None:
    if action.level > Level.READ:
        raise shared_from(kind, label, owner)


def subject_label_in(project_id: int) -> ScalarSelect[Any]:
    """SQL: the label under which the subject of the row at hand (``Subject.id``) is
    shared into ``project_id``; NULL when it is not."""
    share = aliased(Share)  # the query it goes in may join Share too
    return (
        select(share.label)
        .where(
            share.project_id == project_id,
            share.kind == ShareKind.SUBJECT.value,
            share.subject_id == Subject.id,
        )
        .correlate(Subject)
        .limit(1)
        .scalar_subquery()
    )


def session_subject_label_in(project_id: int) -> ScalarSelect[Any]:
    """SQL: the label under which the subject of the session at hand is shared into
    ``project_id``; NULL when it is not."""
    share = aliased(Share)
    return (
        select(share.label)
        .where(
            share.project_id == project_id,
            share.kind == ShareKind.SUBJECT.value,
            share.subject_id == Session.subject_id,
        )
        .correlate(Session)
        .limit(1)
        .scalar_subquery()
    )


def session_share_join(project_id: int) -> ColumnElement[bool]:
    """The ON clause of an outer join of :class:`Share` to sessions: the share, if any,
    of the session at hand into ``project_id``."""
    return and_(
        Share.session_id == Session.id,
        Share.project_id == project_id,
        Share.kind == ShareKind.SESSION.value,
    )


def subject_share_join(project_id: int) -> ColumnElement[bool]:
    """The ON clause of an outer join of :class:`Share` to subjects (see
    :func:`session_share_join`)."""
    return and_(
        Share.subject_id == Subject.id,
        Share.project_id == project_id,
        Share.kind == ShareKind.SUBJECT.value,
    )


def in_project(column: Any, project_id: int) -> ColumnElement[bool]:
    """Rows of ``project_id``'s own, or shared into it (with :class:`Share` outer-joined
    by :func:`session_share_join` or :func:`subject_share_join`).

    Sessions and subjects are picked by ID from the union of the project's own and those
    shared into it: both halves are read through an index, where "own OR joined share"
    would read every session of the site to test each."""
    owner = getattr(column, "class_", None)
    if owner is Session or owner is Subject:
        key, kind = (
            (Share.session_id, ShareKind.SESSION)
            if owner is Session
            else (Share.subject_id, ShareKind.SUBJECT)
        )
        own = select(owner.id).where(column == project_id)
        into = select(key).where(Share.project_id == project_id, Share.kind == kind.value)
        return owner.id.in_(union_all(own, into))
    return or_(column == project_id, Share.id.is_not(None))


def session_options(project_id: int) -> list[ExecutableOption]:
    """Load options that fill a session's labels in ``project_id`` (None when its own)."""
    return [
        with_expression(Session.shared_label, Share.label),
        with_expression(Session.shared_subject_label, session_subject_label_in(project_id)),
    ]


def subject_options() -> list[ExecutableOption]:
    return [with_expression(Subject.shared_label, Share.label)]


def session_in(db: DBSession, project: Project, label: str, action: Action) -> Session | None:
    """The session shared into ``project`` under ``label``, when ``action`` only reads it;
    a change is refused (403) naming the project that owns it. None when none is."""
    stmt = (
        select(Session)
        .join(Share, session_share_join(project.id))
        .options(*session_options(project.id))
        .execution_options(populate_existing=True)
    )
    found = db.scalar(by_label(stmt, Share.label, label))
    if found is not None:
        _read_only(action, "session", label, found.project.label)
    return found


def subject_in(db: DBSession, project: Project, label: str, action: Action) -> Subject | None:
    """The subject shared into ``project`` under ``label`` (see :func:`session_in`)."""
    stmt = (
        select(Subject)
        .join(Share, subject_share_join(project.id))
        .options(*subject_options())
        .execution_options(populate_existing=True)
    )
    found = db.scalar(by_label(stmt, Share.label, label))
    if found is not None:
        _read_only(action, "subject", label, found.project.label)
    return found


def named(db: DBSession, kind: ShareKind, project_id: int, ref: str) -> str | None:
    """The label in ``project_id`` of the subject or session shared into it that ``ref``
    names: its label there first, else its site-wide ID; None when none is."""
    stmt = select(Share.label).where(Share.project_id == project_id, Share.kind == kind.value)
    found = db.scalar(by_label(stmt, Share.label, ref))
    if found is not None:
        return found
    model = Subject if kind == ShareKind.SUBJECT else Session
    key = Share.subject_id if kind == ShareKind.SUBJECT else Share.session_id
    return db.scalar(stmt.join(model, model.id == key).where(model.stable_id == ref).limit(1))


def owner_of(db: DBSession, project_id: int, kind: ShareKind, label: str) -> str | None:
    """The owning project of the subject or session shared into ``project_id`` under
    ``label`` (ignoring case); None when none is."""
    stmt = (
        select(Project.label)
        .select_from(Share)
        .join(Subject, Subject.id == Share.subject_id)
        .join(Project, Project.id == Subject.project_id)
        .where(Share.project_id == project_id, Share.kind == kind.value)
    )
    return db.scalar(by_label(stmt, Share.label, label))


def label_taken(
    db: DBSession, project_id: int, kind: ShareKind, label: str, *, exclude: int | None = None
) -> bool:
    """Whether a share of ``kind`` into ``project_id`` holds ``label`` (ignoring case, as
    every label), other than share ``exclude``."""
    stmt = select(Share.id).where(
        Share.project_id == project_id, Share.kind == kind.value, same_label(Share.label, label)
    )
    if exclude is not None:
        stmt = stmt.where(Share.id != exclude)
    return db.scalar(stmt.limit(1)) is not None


def shared_subjects(project_id: int) -> ColumnElement[bool]:
    """SQL on :class:`Subject` rows: those shared into ``project_id``."""
    return Subject.id.in_(
        select(Share.subject_id).where(
            Share.project_id == project_id, Share.kind == ShareKind.SUBJECT.value
        )
    )


def subject_id_in(db: DBSession, project_id: int, label: str) -> int | None:
    """The ID of the subject shared into ``project_id`` under ``label``; None if none is."""
    stmt = select(Share.subject_id).where(
        Share.project_id == project_id, Share.kind == ShareKind.SUBJECT.value
    )
    return db.scalar(by_label(stmt, Share.label, label))


def not_shared_elsewhere(db: DBSession, session: Session) -> None:
    """Refuse to move ``session`` to another subject while it is shared: in the projects
    it is shared into it lives under its subject's share there."""
    into = db.scalar(
        select(Project.label)
        .join(Share, Share.project_id == Project.id)
        .where(Share.session_id == session.id)
        .limit(1)
    )
    if into is not None:
        raise Conflict(
            f"Session '{session.label}' is shared into project '{into}'; unshare it there "
            "before moving it to another subject.",
            field="subject",
        )
