"""A user's own choices: which messages they get, for all projects and per project.

Each topic is on, off, or not chosen. A choice for one project wins over the choice for
all projects; with neither, the topic's default holds (:data:`DEFAULTS`), which covers
what is the user's own: the sessions they uploaded (``archived``), the projects they own
(``attention``); ``process`` is off. A choice of ``on`` covers every session of the
projects it is made for. Each user sets only their own; the stuck alerts are a site
administrator's alone, and site-wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, Level, permission_clause, require_signed_in
from scandepot.archive import projects
from scandepot.catalog.access import ProjectRole, User
from scandepot.catalog.archive import Project
from scandepot.catalog.notify import Choice, Topic
from scandepot.context import Context
from scandepot.errors import Forbidden, Invalid
from scandepot.notify.subscriptions import checked_topics

DEFAULTS: dict[Topic, bool] = {
    Topic.ARCHIVED: True,
    Topic.PROCESS: False,
    Topic.ATTENTION: True,
    Topic.STUCK: True,
}
PROJECT_TOPICS = (Topic.ARCHIVED, Topic.PROCESS, Topic.ATTENTION)


class ChoiceUpdate(BaseModel):
    """Topics turned on (true), off (false) or back to not chosen (null), for all
    projects (``project`` None) or for one."""

    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, max_length=64)
    topics: dict[str, bool | None] = Field(max_length=8)


@dataclass(frozen=True, slots=True)
class ProjectChoices:
    project: str
    name: str
    topics: dict[str, bool]  # in effect there
    own: dict[str, bool | None]  # this project's own choices (None: not chosen here)


@dataclass(frozen=True, slots=True)
class ChoicesView:
    login: str
    email: str  # where the messages go; none: nothing is sent
    defaults: dict[str, bool]
    chosen: dict[str, bool | None]  # the choices for all projects (None: the default)
    everywhere: dict[str, bool]  # in effect for all projects without a choice of their own
    projects: list[ProjectChoices] = field(default_factory=list)


def topics_of(actor: Actor) -> tuple[Topic, ...]:
    """The topics ``actor`` chooses: the stuck alerts too for a site administrator."""
    return (*PROJECT_TOPICS, Topic.STUCK) if actor.is_site_admin else PROJECT_TOPICS


def _user_id(actor: Actor) -> int:
    require_signed_in(actor)
    if actor.user_id is None:
        raise Forbidden("Only a user account has notification choices.")
    return actor.user_id


def get(ctx: Context, actor: Actor) -> ChoicesView:
    """The actor's own choices: for all projects, and for each project they hold a role
    in or have a choice for (and may still read)."""
    user_id = _user_id(actor)
    topics = topics_of(actor)
    with ctx.db.read() as db:
        rows = db.execute(
            select(Choice.project_id, Choice.topic, Choice.enabled).where(Choice.user_id == user_id)
        ).all()
        own: dict[int | None, dict[str, bool]] = {}
        for project_id, topic, enabled in rows:
            own.setdefault(project_id, {})[topic] = bool(enabled)
        email = db.scalar(select(User.email).where(User.id == user_id)) or ""
        shown = db.scalars(
            select(Project)
            .where(
                permission_clause(actor, Level.READ),
                or_(
                    Project.id.in_(
                        select(ProjectRole.project_id).where(ProjectRole.user_id == user_id)
                    ),
                    Project.id.in_([p for p in own if p is not None]),
                ),
            )
            .order_by(Project.label)
        ).all()
    chosen = {t.value: own.get(None, {}).get(t.value) for t in topics}
    defaults = {t.value: DEFAULTS[t] for t in topics}
    everywhere = {t: defaults[t] if c is None else c for t, c in chosen.items()}
    listed = []
    for project in shown:
        mine = own.get(project.id, {})
        kept = {t.value: mine.get(t.value) for t in PROJECT_TOPICS}
        effective = {t: everywhere[t] if c is None else c for t, c in kept.items()}
        listed.append(ProjectChoices(project.label, project.name, effective, kept))
    return ChoicesView(actor.login, email, defaults, chosen, everywhere, listed)


def _checked(actor: Actor, data: ChoiceUpdate) -> dict[str, bool | None]:
    allowed = PROJECT_TOPICS if data.project is not None else topics_of(actor)
    if data.project is not None and any(
        name.strip().lower() == Topic.STUCK.value for name in data.topics
    ):
        raise Invalid("The stuck alerts are chosen for all projects, not one.", field="topics")
    given = {name.strip().lower(): value for name, value in data.topics.items()}
    names = checked_topics(given, allowed=allowed, field="topics")
    return {name: given[name] for name in names}


def choose(ctx: Context, actor: Actor, data: ChoiceUpdate) -> ChoicesView:
    """Set the actor's own choice of each topic given, for all projects or for one they
    may read (fails as the project loader does otherwise)."""
    user_id = _user_id(actor)
    values = _checked(actor, data)
    with ctx.db.write() as db:
        project_id = None
        if data.project is not None:
            project_id = projects.load(db, actor, data.project, Action.READ).id
        _store(db, user_id, project_id, values)
    return get(ctx, actor)


def _store(
    db: DBSession, user_id: int, project_id: int | None, values: Mapping[str, bool | None]
) -> None:
    scope = Choice.project_id.is_(None) if project_id is None else Choice.project_id == project_id
    rows = db.scalars(select(Choice).where(Choice.user_id == user_id, scope)).all()
    existing = {row.topic: row for row in rows}
    for topic, enabled in values.items():
        row = existing.get(topic)
        if enabled is None:
            if row is not None:
                db.delete(row)
        elif row is None:
            db.add(Choice(user_id=user_id, project_id=project_id, topic=topic, enabled=enabled))
        else:
            row.enabled = enabled
    db.flush()


def reset(ctx: Context, actor: Actor, project: str) -> None:
    """Forget the actor's choices for ``project``: their choices for all projects apply
    there again."""
    user_id = _user_id(actor)
    with ctx.db.write() as db:
        project_id = projects.load(db, actor, project, Action.READ).id
        db.execute(delete(Choice).where(Choice.user_id == user_id, Choice.project_id == project_id))
