"""Sessions as rows of a table: one query for a whole listing, whatever its length.

Listings that answer every session of a project (or of the site) at once, such as the
XNAT-compatible ``experiments`` tables, read columns, never ORM objects with their
project and subject loaded beside them: 5,000 sessions are one SELECT.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import permissions
from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, Level
from scandepot.archive import projects, shared
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.labels import same_label
from scandepot.catalog.timestamps import utc_text
from scandepot.catalog.transfers import Share
from scandepot.context import Context
from scandepot.errors import NotFound


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str  # the site-wide ID
    label: str
    project: str
    subject_id: str
    subject_label: str
    modality: str | None
    date: dt.date | None
    time: dt.time | None
    note: str
    StudyInstanceUID: str | None
    StudyDescription: str | None
    created_at: str  # UTC, YYYY-MM-DD HH:MM:SS.ffffff


def _select(here: int | None = None) -> Select[*tuple[Any, ...]]:
    """The columns of SessionRow, in its order; with ``here`` (a project ID), the labels
    are those there, sessions shared into it included (:mod:`shared`), with the project
    that owns each."""
    label: Any = Session.label
    subject_label: Any = Subject.label
    if here is not None:
        label = func.coalesce(Share.label, Session.label)
        subject_label = func.coalesce(shared.session_subject_label_in(here), Subject.label)
    stmt: Select[*tuple[Any, ...]] = (
        select(
            Session.stable_id,
            label,
            Project.label,
            Subject.stable_id,
            subject_label,
            Session.modality,
            Session.date,
            Session.time,
            Session.note,
            Session.StudyInstanceUID,
            Session.StudyDescription,
            utc_text(Session.created_at),
        )
        .select_from(Session)
        .join(Subject, Subject.id == Session.subject_id)
        .join(Project, Project.id == Session.project_id)
    )
    if here is not None:
        stmt = stmt.outerjoin(Share, shared.session_share_join(here))
        stmt = stmt.where(shared.in_project(Session.project_id, here))
    return stmt


def _rows(db: DBSession, stmt: Select[*tuple[Any, ...]]) -> list[SessionRow]:
    ordered = stmt.order_by(Project.label, Session.label, Session.id)
    # Core rows, not the ORM's: the ORM's bookkeeping per row costs more than the query.
    return [SessionRow(*row) for row in db.connection().execute(ordered).all()]


def in_project(
    ctx: Context,
    actor: Actor,
    project: str,
    *,
    subject: str | None = None,
) -> list[SessionRow]:
    """Every session of ``project`` (of its subject labelled ``subject``, if given) the
    caller may read, ordered by label."""
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        stmt = _select(proj.id)
        if subject is not None:
            found = db.scalar(
                select(Subject.id)
                .where(Subject.project_id == proj.id, same_label(Subject.label, subject))
                .limit(1)
            )
            if found is None:  # one shared into the project, by its label there
                found = shared.subject_id_in(db, proj.id, subject)
            if found is None:
                raise NotFound(
                    f"Subject '{subject}' not found in project '{project}'.", field="subject"
                )
            stmt = stmt.where(Session.subject_id == found)
        return _rows(db, stmt)


def on_site(ctx: Context, actor: Actor) -> list[SessionRow]:
    """Every session of every project the caller may read, ordered by project and label."""
    with ctx.db.read() as db:
        stmt = _select().where(permissions.permission_clause(actor, Level.READ))
        return _rows(db, stmt)
