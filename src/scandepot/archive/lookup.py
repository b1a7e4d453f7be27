"""Subjects and sessions named as XNAT names them: by their site-wide ID (``SD_S00001``,
``SD_E00001``) anywhere, or by ID or label inside a project.

What is found is given as labels, for the label-based services that then check the
action asked. A caller who may not see the project learns nothing here: an object there
is "not found" in the same words as one that does not exist, and a guest is asked to
sign in (401) for both alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, Level, level_on
from scandepot.archive import shared
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.labels import find_labelled
from scandepot.catalog.transfers import ShareKind
from scandepot.context import Context
from scandepot.errors import NotFound, Unauthorized

Named = TypeVar("Named", Subject, Session)


@dataclass(frozen=True, slots=True)
class Found:
    project: str
    subject: str
    session: str | None = None


def _visible(db: DBSession, actor: Actor, project: Project) -> bool:
    return level_on(db, actor, project) >= Level.SEE


def _hidden(actor: Actor, message: str, field: str) -> Exception:
    """What an ID that names nothing the caller may see answers: the same whether the
    object exists or not."""
    return Unauthorized() if actor.is_anonymous else NotFound(message, field=field)


def subject_by_id(ctx: Context, actor: Actor, stable_id: str) -> Found:
    with ctx.db.read() as db:
        subject = db.scalar(select(Subject).where(Subject.stable_id == stable_id))
        if subject is None or not _visible(db, actor, subject.project):
            raise _hidden(actor, f"Subject '{stable_id}' not found.", "subject")
        return Found(subject.project.label, subject.label)


def session_by_id(ctx: Context, actor: Actor, stable_id: str) -> Found:
    with ctx.db.read() as db:
        session = db.scalar(select(Session).where(Session.stable_id == stable_id))
        if session is None or not _visible(db, actor, session.project):
            raise _hidden(actor, f"Experiment '{stable_id}' not found.", "experiment")
        return Found(session.project.label, session.subject.label, session.label)


def _in_project(db: DBSession, project: str) -> Project | None:
    return db.scalar(select(Project).where(Project.label == project))


def _named(db: DBSession, model: type[Named], project: Project, ref: str) -> Named | None:
    """The subject or session of ``project`` that ``ref`` names: its label first (as
    labels are matched everywhere), else its site-wide ID."""
    found = find_labelled(db, model, project.id, ref)
    if found is None:
        found = db.scalar(
            select(model).where(model.project_id == project.id, model.stable_id == ref)
        )
    return found


def subject_in(ctx: Context, actor: Actor, project: str, ref: str) -> str | None:
    """The label of the subject of ``project`` that ``ref`` names (its label first, else its
    ID); None when none does, or the caller may not see the project: the service called
    next with the label then gives the answer its check gives."""
    with ctx.db.read() as db:
        proj = _in_project(db, project)
        if proj is None or not _visible(db, actor, proj):
            return None
        found = _named(db, Subject, proj, ref)
        if found is None:  # shared into the project: its label there
            return shared.named(db, ShareKind.SUBJECT, proj.id, ref)
        return found.label


def session_in(ctx: Context, actor: Actor, project: str, ref: str) -> Found | None:
    """The session of ``project`` that ``ref`` names (label first, else ID), as
    :func:`subject_in` finds a subject."""
    with ctx.db.read() as db:
        proj = _in_project(db, project)
        if proj is None or not _visible(db, actor, proj):
            return None
        found = _named(db, Session, proj, ref)
        if found is None:
            label = shared.named(db, ShareKind.SESSION, proj.id, ref)
            found = shared.session_in(db, proj, label, Action.READ) if label else None
        if found is None:
            return None
        if found.shared_label is not None:  # shared into the project: its labels there
            return Found(project, found.shared_subject_label or "", found.shared_label)
        return Found(project, found.subject.label, found.label)
