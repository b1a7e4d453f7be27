"""Saved selections: a named set of a project's own sessions, saved to be used again.

A selection holds its sessions by their rows (their stable IDs), so relabels leave it
whole; it is shown by the sessions' labels of the moment. A session deleted, or moved to
another project, drops out. Sessions shared into the project from another are not taken:
they are chosen (and pushed) from the project that owns them.

Seeing a selection takes read on the project; saving and changing one, write (as creating
subjects and sessions); deleting one, manage (as every delete in a project). Names follow
the label rule and are unique in the project ignoring case. Selections are not recorded
in the audit log, as subjects and sessions created or edited are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import projects, shared
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.labels import by_label, check_label, label_taken
from scandepot.catalog.selections import DESCRIPTION_LENGTH, Selection, SelectionSession
from scandepot.catalog.transfers import ShareKind
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, NotFound

MAX_ITEMS = 10_000

Refs = list[str]


class SelectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, description="Letters, digits, '-' and '_'.")
    sessions: Refs = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Sessions of the project, by label or site-wide ID.",
    )
    description: str = Field(default="", max_length=DESCRIPTION_LENGTH)


class SelectionChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: Refs = Field(default_factory=list, max_length=MAX_ITEMS, description="Sessions to add.")
    remove: Refs = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Sessions to take out."
    )
    name: str | None = Field(default=None, max_length=64, description="A new name.")
    description: str | None = Field(default=None, max_length=DESCRIPTION_LENGTH)


@dataclass(frozen=True)
class Member:
    """A session of a selection, by its labels of the moment and its stable ID."""

    label: str
    subject: str
    stable_id: str


@dataclass(frozen=True)
class SelectionView:
    project: str
    name: str
    description: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    sessions: tuple[Member, ...]


def _load(db: DBSession, project: Project, name: str) -> Selection:
    stmt = select(Selection).where(Selection.project_id == project.id)
    found = db.scalar(by_label(stmt, Selection.name, name))
    if found is None:
        raise NotFound(
            f"Selection '{name}' not found in project '{project.label}'.", field="selection"
        )
    return found


def _members(db: DBSession, selection: Selection) -> list[Session]:
    """The selection's sessions still in its project, in label order."""
    return list(
        db.scalars(
            select(Session)
            .join(SelectionSession, SelectionSession.session_id == Session.id)
            .where(
                SelectionSession.selection_id == selection.id,
                Session.project_id == selection.project_id,
            )
            .order_by(func.lower(Session.label), Session.id)
        )
    )


def _view(db: DBSession, project: Project, selection: Selection) -> SelectionView:
    rows = db.execute(
        select(Session.label, Subject.label, Session.stable_id)
        .join(SelectionSession, SelectionSession.session_id == Session.id)
        .join(Subject, Subject.id == Session.subject_id)
        .where(
            SelectionSession.selection_id == selection.id,
            Session.project_id == selection.project_id,
        )
        .order_by(func.lower(Session.label), Session.id)
    ).all()
    return SelectionView(
        project=project.label,
        name=selection.name,
        description=selection.description,
        created_by=selection.created_by,
        created_at=selection.created_at,
        updated_at=selection.updated_at,
        sessions=tuple(Member(*row) for row in rows),
    )


def resolve(db: DBSession, project: Project, refs: Sequence[str], field: str) -> list[int]:
    """The IDs of the project's own sessions that ``refs`` name (a label, ignoring case, or
    a site-wide ID); NotFound naming every one that names none."""
    wanted = list(dict.fromkeys(r.strip() for r in refs if r.strip()))
    if not wanted:
        return []
    rows = db.execute(
        select(Session.id, Session.label, Session.stable_id).where(
            Session.project_id == project.id,
            or_(
                func.lower(Session.label).in_([w.lower() for w in wanted]),
                Session.stable_id.in_(wanted),
            ),
        )
    ).all()
    by_ref = {label.lower(): id_ for id_, label, _ in rows}
    by_ref.update({stable_id.lower(): id_ for id_, _, stable_id in rows})
    missing = [w for w in wanted if w.lower() not in by_ref]
    if missing:
        shared_in = [m for m in missing if shared.named(db, ShareKind.SESSION, project.id, m)]
        note = (
            f" ({', '.join(shared_in[:20])}: shared from another project; select there)"
            if shared_in
            else ""
        )
        raise NotFound(
            f"Session(s) not found in project '{project.label}': {', '.join(missing[:20])}{note}.",
            field=field,
        )
    return list(dict.fromkeys(by_ref[w.lower()] for w in wanted))


def sessions_of(db: DBSession, project: Project, name: str) -> list[Session]:
    """The sessions of ``project``'s selection ``name`` (loaded with the caller's check on
    the project), in label order; NotFound when there is no such selection."""
    return _members(db, _load(db, project, name))


def _name_free(db: DBSession, project: Project, name: str, exclude: int | None = None) -> str:
    check_label(name, field="name")
    scope = Selection.project_id == project.id
    if label_taken(db, Selection.id, Selection.name, scope, name, exclude=exclude):
        raise Conflict(
            f"A selection named '{name}' already exists in project '{project.label}'.",
            field="name",
        )
    return name


def _add(db: DBSession, selection: Selection, session_ids: Sequence[int]) -> None:
    held = set(
        db.scalars(
            select(SelectionSession.session_id).where(SelectionSession.selection_id == selection.id)
        )
    )
    new = [i for i in session_ids if i not in held]
    if new:
        db.execute(
            insert(SelectionSession),
            [{"selection_id": selection.id, "session_id": i} for i in new],
        )


def list_selections(ctx: Context, actor: Actor, project: str) -> list[SelectionView]:
    """The project's selections, by name, each with its sessions."""
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        found = db.scalars(
            select(Selection)
            .where(Selection.project_id == proj.id)
            .order_by(func.lower(Selection.name))
        )
        return [_view(db, proj, s) for s in found]


def get(ctx: Context, actor: Actor, project: str, name: str) -> SelectionView:
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        return _view(db, proj, _load(db, proj, name))


def create(ctx: Context, actor: Actor, project: str, data: SelectionCreate) -> SelectionView:
    """Save a new selection; Conflict when the name is taken in the project."""
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.EDIT)
        name = _name_free(db, proj, data.name)
        session_ids = resolve(db, proj, data.sessions, "sessions")
        selection = Selection(
            project_id=proj.id, name=name, description=data.description, created_by=actor.login
        )
        db.add(selection)
        db.flush()
        _add(db, selection, session_ids)
        return _view(db, proj, selection)


def change(
    ctx: Context, actor: Actor, project: str, name: str, data: SelectionChange
) -> SelectionView:
    """Add sessions, take some out (one not in it is no error), rename, describe."""
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.EDIT)
        selection = _load(db, proj, name)
        if data.name is not None:
            selection.name = _name_free(db, proj, data.name, exclude=selection.id)
        if data.description is not None:
            selection.description = data.description
        _add(db, selection, resolve(db, proj, data.add, "add"))
        removed = resolve(db, proj, data.remove, "remove")
        if removed:
            db.execute(
                sql_delete(SelectionSession).where(
                    SelectionSession.selection_id == selection.id,
                    SelectionSession.session_id.in_(removed),
                )
            )
        selection.updated_at = utcnow()
        db.flush()
        return _view(db, proj, selection)


def delete(ctx: Context, actor: Actor, project: str, name: str) -> None:
    """Delete the selection (its sessions stay as they are)."""
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.DELETE)
        db.delete(_load(db, proj, name))


def names(db: DBSession, project: Project) -> list[str]:
    """The names of ``project``'s selections (loaded with the caller's check), in order."""
    return list(
        db.scalars(
            select(Selection.name)
            .where(Selection.project_id == project.id)
            .order_by(func.lower(Selection.name))
        )
    )
