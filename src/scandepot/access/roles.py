"""Project roles: who is owner, member or collaborator of a project."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, load_project, role_of
from scandepot.catalog.access import ProjectRole, Role, User
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, NotFound, Unauthorized


@dataclass(frozen=True, slots=True)
class Membership:
    login: str
    full_name: str
    role: Role


def _user(db: DBSession, login: str) -> User:
    user = db.scalar(select(User).where(User.login == login))
    if user is None:
        raise NotFound(f"User '{login}' not found.", field="login")
    return user


def list_roles(ctx: Context, actor: Actor, project: str) -> list[Membership]:
    """Who holds which role: for those who hold one (and site admins). A public project's
    data is open to all; its list of people is not."""
    with ctx.db.read() as db:
        proj = load_project(db, actor, project, Action.READ)
        if not actor.is_site_admin and role_of(db, actor, proj.id) is None:
            raise Unauthorized() if actor.is_anonymous else Forbidden()
        rows = db.execute(
            select(User.login, User.full_name, ProjectRole.role)
            .join(ProjectRole, ProjectRole.user_id == User.id)
            .where(ProjectRole.project_id == proj.id)
            .order_by(ProjectRole.role.desc(), User.login)
        ).all()
    return [Membership(login, name, Role(role)) for login, name, role in rows]


def _owners(db: DBSession, project_id: int) -> int:
    return (
        db.scalar(
            select(func.count(ProjectRole.id)).where(
                ProjectRole.project_id == project_id, ProjectRole.role == Role.OWNER
            )
        )
        or 0
    )


def set_role(ctx: Context, actor: Actor, project: str, login: str, role: Role) -> Membership:
    """Give ``login`` ``role`` in ``project`` (adding or changing); a project keeps an owner."""
    with ctx.db.write() as db:
        proj = load_project(db, actor, project, Action.MANAGE_USERS)
        user = _user(db, login)
        current = db.scalar(
            select(ProjectRole)
            .where(ProjectRole.project_id == proj.id, ProjectRole.user_id == user.id)
            .with_for_update()
        )
        old = Role(current.role).word if current is not None else None
        if current is None:
            db.add(ProjectRole(project_id=proj.id, user_id=user.id, role=int(role)))
        else:
            if current.role == Role.OWNER and role != Role.OWNER and _owners(db, proj.id) <= 1:
                raise Conflict(f"'{login}' is the last owner of '{project}'; add another first.")
            current.role = int(role)
        audit.record(
            db,
            actor,
            AuditAction.PROJECT_ROLE_SET,
            project=project,
            target=login,
            old=old,
            new=role.word,
        )
        return Membership(user.login, user.full_name, role)


def remove_role(ctx: Context, actor: Actor, project: str, login: str) -> None:
    with ctx.db.write() as db:
        proj = load_project(db, actor, project, Action.MANAGE_USERS)
        user = _user(db, login)
        current = db.scalar(
            select(ProjectRole)
            .where(ProjectRole.project_id == proj.id, ProjectRole.user_id == user.id)
            .with_for_update()
        )
        if current is None:
            raise NotFound(f"'{login}' has no role in '{project}'.", field="login")
        if current.role == Role.OWNER and _owners(db, proj.id) <= 1:
            raise Conflict(f"'{login}' is the last owner of '{project}'; add another first.")
        db.delete(current)
        audit.record(
            db,
            actor,
            AuditAction.PROJECT_ROLE_REMOVED,
            project=project,
            target=login,
            old=Role(current.role).word,
        )
