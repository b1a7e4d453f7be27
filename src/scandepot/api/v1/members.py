"""/api/v1/projects/{project}/users: who holds which role in a project."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict

from scandepot.access import roles
from scandepot.api.deps import ActorDep, CtxDep
from scandepot.api.v1.accounts import MemberOut, member_out
from scandepot.catalog.access import Role
from scandepot.errors import Invalid

router = APIRouter(prefix="/projects/{project}/users", tags=["project users"])


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str


def _role(word: str) -> Role:
    try:
        return Role.parse(word)
    except KeyError:
        raise Invalid("role must be owner, member or collaborator.", field="role") from None


@router.get("", response_model=list[MemberOut])
def list_members(ctx: CtxDep, actor: ActorDep, project: str) -> list[MemberOut]:
    return [member_out(m) for m in roles.list_roles(ctx, actor, project)]


@router.put("/{login}", response_model=MemberOut)
def set_member(ctx: CtxDep, actor: ActorDep, project: str, login: str, body: RoleIn) -> MemberOut:
    """Give a user a role in the project, or change it (owners)."""
    return member_out(roles.set_role(ctx, actor, project, login, _role(body.role)))


@router.delete("/{login}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(ctx: CtxDep, actor: ActorDep, project: str, login: str) -> None:
    roles.remove_role(ctx, actor, project, login)
