"""The one permission check.

Every project has an accessibility (private, protected, public) and users hold roles in it
(collaborator < member < owner); site admins are above all. From these an actor has one
:class:`Level` on a project, and every action needs a level. Subjects, sessions, scans,
resources and files take their access from their project. docs/access.md holds the table.

Denials fail closed and hide what the actor may not know: anonymous actors are asked to
sign in (401) whatever exists; a signed-in actor who may not know a project exists is told
it is not found (404), exactly as for a project that does not exist; one who may see it
but not do this is refused (403).
"""

from __future__ import annotations

import enum

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.catalog.access import ProjectRole, Role
from scandepot.catalog.archive import Accessibility, Project
from scandepot.errors import Forbidden, NotFound, Unauthorized


class Level(enum.IntEnum):
    NONE = 0
    SEE = 1  # the project's ID, name, description and counts
    READ = 2  # everything in it, downloads included
    WRITE = 3  # create subjects and sessions, upload, edit labels and notes
    MANAGE = 4  # settings, users and roles, delete, archive into it
    ADMIN = 5  # site admin


class Action(enum.Enum):
    """What an actor wants to do, and the level it takes."""

    SEE = Level.SEE
    READ = Level.READ
    DOWNLOAD = Level.READ
    CREATE = Level.WRITE
    UPLOAD = Level.WRITE
    EDIT = Level.WRITE
    LAUNCH = Level.WRITE  # run pipelines, re-run and cancel jobs
    DELETE = Level.MANAGE
    CONFIGURE = Level.MANAGE
    MANAGE_USERS = Level.MANAGE
    PREARCHIVE = Level.WRITE  # see, relabel and rebuild the project's staged sessions
    ARCHIVE = Level.MANAGE  # archive staged sessions into the project, move them, delete

    @property
    def level(self) -> Level:
        return Level(self.value)


_ROLE_LEVEL = {Role.COLLABORATOR: Level.READ, Role.MEMBER: Level.WRITE, Role.OWNER: Level.MANAGE}
_MIN_ROLE = {
    Level.SEE: Role.COLLABORATOR,
    Level.READ: Role.COLLABORATOR,
    Level.WRITE: Role.MEMBER,
    Level.MANAGE: Role.OWNER,
}


def role_of(db: DBSession, actor: Actor, project_id: int) -> Role | None:
    if actor.user_id is None:
        return None
    value = db.scalar(
        select(ProjectRole.role).where(
            ProjectRole.project_id == project_id, ProjectRole.user_id == actor.user_id
        )
    )
    return Role(value) if value is not None else None


def level_on(db: DBSession, actor: Actor, project: Project) -> Level:
    if actor.is_site_admin:
        return Level.ADMIN
    role = role_of(db, actor, project.id)
    level = _ROLE_LEVEL[role] if role is not None else Level.NONE
    if project.accessibility == Accessibility.PUBLIC:
        level = max(level, Level.READ)
    elif project.accessibility == Accessibility.PROTECTED and not actor.is_anonymous:
        level = max(level, Level.SEE)
    return level


def require(db: DBSession, actor: Actor, action: Action, project: Project) -> Level:
    """Raise unless ``actor`` may do ``action`` on ``project`` (or anything inside it)."""
    level = level_on(db, actor, project)
    if level >= action.level:
        return level
    if actor.is_anonymous:
        raise Unauthorized()
    if level == Level.NONE:
        raise project_not_found(project.label)
    raise Forbidden()


def load_project(db: DBSession, actor: Actor, label: str, action: Action) -> Project:
    """The project ``label``, if ``actor`` may do ``action`` on it; fails closed."""
    project = db.scalar(select(Project).where(Project.label == label))
    if project is None:
        raise unknown_project(actor, label)
    require(db, actor, action, project)
    return project


def require_site_admin(actor: Actor) -> None:
    if actor.is_site_admin:
        return
    if actor.is_anonymous:
        raise Unauthorized()
    raise Forbidden("Only site administrators may do this.")


def require_signed_in(actor: Actor) -> None:
    if actor.is_anonymous:
        raise Unauthorized()


def project_not_found(label: str) -> NotFound:
    return NotFound(f"Project '{label}' not found.", field="project")


def unknown_project(actor: Actor, label: str) -> Exception:
    """The error for a project that does not exist: anonymous actors learn nothing."""
    return Unauthorized() if actor.is_anonymous else project_not_found(label)


def permission_clause(actor: Actor, level: Level) -> ColumnElement[bool]:
    """SQL condition on :class:`Project` rows: the projects where ``actor`` has ``level``."""
    if actor.is_site_admin:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if level <= Level.READ:
        clauses.append(Project.accessibility == Accessibility.PUBLIC.value)
    if level <= Level.SEE and not actor.is_anonymous:
        clauses.append(Project.accessibility == Accessibility.PROTECTED.value)
    min_role = _MIN_ROLE.get(level)
    if actor.user_id is not None and min_role is not None:
        clauses.append(
            exists().where(
                and_(
                    ProjectRole.project_id == Project.id,
                    ProjectRole.user_id == actor.user_id,
                    ProjectRole.role >= int(min_role),
                )
            )
        )
    return or_(*clauses) if clauses else false()
