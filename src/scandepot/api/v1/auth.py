"""/api/v1/auth: sign in and out, the current user, password, API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from scandepot.access import logins, tokens, users
from scandepot.access.permissions import require_signed_in
from scandepot.access.tokens import TokenCreate
from scandepot.api.deps import ActorDep, CtxDep
from scandepot.api.v1.accounts import (
    MeOut,
    NewTokenOut,
    TokenOut,
    token_out,
    user_out,
)
from scandepot.http.deps import clear_session_cookie, client_address, set_session_cookie

router = APIRouter(prefix="/auth", tags=["authentication"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


@router.post("/login", response_model=MeOut)
def login(request: Request, response: Response, ctx: CtxDep, body: Credentials) -> MeOut:
    """Sign in with a password; sets the session cookie and returns the CSRF token."""
    actor = users.sign_in(ctx, body.login, body.password, address=client_address(request))
    signed = logins.open_session(ctx, actor, user_agent=request.headers.get("user-agent"))
    set_session_cookie(response, request, signed)
    me = users.get(ctx, signed.actor, actor.login)
    return MeOut(**user_out(me).model_dump(), csrf_token=signed.csrf_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(ctx: CtxDep, actor: ActorDep, response: Response) -> None:
    logins.close_session(ctx, actor)
    clear_session_cookie(response)


@router.get("/me", response_model=MeOut)
def me(request: Request, ctx: CtxDep, actor: ActorDep) -> MeOut:
    require_signed_in(actor)
    user = users.get(ctx, actor, actor.login)
    csrf = None
    if actor.via == "session":
        resolved = logins.resolve(ctx, request.cookies.get(logins.COOKIE, ""), address=None)
        csrf = resolved.csrf_token if resolved else None
    return MeOut(**user_out(user).model_dump(), csrf_token=csrf)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(ctx: CtxDep, actor: ActorDep, body: PasswordChange) -> None:
    """Change your own password; your other browser sign-ins end."""
    users.change_own_password(ctx, actor, body.current_password, body.new_password)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(ctx: CtxDep, actor: ActorDep) -> list[TokenOut]:
    return [token_out(t) for t in tokens.list_tokens(ctx, actor)]


@router.post("/tokens", response_model=NewTokenOut, status_code=status.HTTP_201_CREATED)
def create_token(ctx: CtxDep, actor: ActorDep, body: TokenCreate) -> NewTokenOut:
    """Create an API token; the token itself is in this answer and nowhere else."""
    new = tokens.create(ctx, actor, body)
    return NewTokenOut(**token_out(new.record).model_dump(), token=new.token)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(ctx: CtxDep, actor: ActorDep, token_id: int) -> None:
    tokens.revoke(ctx, actor, token_id)
