"""Whose view of the archive a DICOM query or retrieval runs in.

A scope is an actor and either one project (``/dicomweb/projects/{project}``, a DIMSE
peer mapped to a project) or the whole site (``/dicomweb``): every project the actor may
read. The site-wide view shows a study archived in several projects once, made of the
copies the actor may read (docs/dicomweb.md); nothing of a project the actor may not read
is ever matched, counted or returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, Level, load_project, permission_clause
from scandepot.catalog.archive import Project, Session
from scandepot.catalog.transfers import Share, ShareKind


@dataclass(frozen=True)
class Scope:
    """The actor, and the project the view is limited to (None: the whole site)."""

    actor: Actor
    project_id: int | None = None
    project_label: str | None = None

    @property
    def site_wide(self) -> bool:
        return self.project_id is None

    def projects(self) -> ColumnElement[bool]:
        """SQL condition on :class:`Session` rows joined to their :class:`Project`: the
        sessions this view reads, those of its projects and those shared into them
        (docs/transfers.md: read there with that project's rules)."""
        readable = permission_clause(self.actor, Level.READ)
        if self.project_id is None:
            into = select(Project.id).where(readable).correlate_except(Project)
            return or_(readable, _shared_into(into))
        return or_(and_(Project.id == self.project_id, readable), _shared_into(self.project_id))


def _shared_into(projects: Any) -> ColumnElement[bool]:
    """SQL: the session at hand is shared into ``projects`` (an ID, or a query of IDs)."""
    where = (
        Share.project_id.in_(projects)
        if not isinstance(projects, int)
        else (Share.project_id == projects)
    )
    shared = select(Share.session_id).where(Share.kind == ShareKind.SESSION.value, where)
    return Session.id.in_(shared)


def open_scope(db: DBSession, actor: Actor, project: str | None, action: Action) -> Scope:
    """The view of ``project`` (failing closed as every loader does: 401, 404 or 403), or
    of the whole site when ``project`` is None."""
    if project is None:
        return Scope(actor)
    found = load_project(db, actor, project, action)
    return Scope(actor, found.id, found.label)
