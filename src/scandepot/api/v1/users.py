"""/api/v1/users: accounts, for site administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from scandepot.access import users
from scandepot.access.users import UserCreate, UserUpdate
from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.accounts import NewUserOut, UserOut, user_out
from scandepot.api.v1.schemas import PageOut, page_out

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=PageOut[UserOut])
def list_users(
    ctx: CtxDep,
    actor: ActorDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="'*' wildcard")] = None,
) -> PageOut[UserOut]:
    return page_out(users.list_users(ctx, actor, page, q=q), user_out)


@router.post("", response_model=NewUserOut, status_code=status.HTTP_201_CREATED)
def create_user(ctx: CtxDep, actor: ActorDep, body: UserCreate) -> NewUserOut:
    user, generated = users.create(ctx, actor, body)
    return NewUserOut(**user_out(user).model_dump(), password=generated)


@router.get("/{login}", response_model=UserOut)
def get_user(ctx: CtxDep, actor: ActorDep, login: str) -> UserOut:
    return user_out(users.get(ctx, actor, login))


@router.patch("/{login}", response_model=UserOut)
def update_user(ctx: CtxDep, actor: ActorDep, login: str, body: UserUpdate) -> UserOut:
    return user_out(users.update(ctx, actor, login, body))
