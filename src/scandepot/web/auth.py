"""Signing in and out, and the visitor's API tokens."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.access import logins, tokens, users
from scandepot.access.permissions import require_signed_in
from scandepot.access.tokens import TokenCreate
from scandepot.errors import Invalid, ScandepotError
from scandepot.http.deps import clear_session_cookie, client_address, set_session_cookie
from scandepot.web.deps import CtxDep, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()

# The sign-in form has no session yet: a cookie of its own, repeated in a hidden field,
# keeps other sites from signing a browser in to an account of theirs.
LOGIN_CSRF = "scandepot_login"


def _safe_next(target: str | None) -> str:
    """Only a path on this site, so that a link cannot send people elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login")
def login_form(
    request: Request,
    visitor: VisitorDep,
    next: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    if visitor.signed_in:
        return redirect(_safe_next(next))
    token = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(24)
    response = page(
        request, visitor, "login.html", title="Sign in", next=_safe_next(next), login_token=token
    )
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", path="/login")
    return response


@router.post("/login")
def login(request: Request, ctx: CtxDep, form: PostedDep) -> Response:
    target = _safe_next(form.text("next"))
    cookie = request.cookies.get(LOGIN_CSRF)
    if not cookie:
        return redirect(f"/login?next={target}", error="Your browser must accept cookies.")
    logins.check_csrf(cookie, form.text("login_token"))
    try:
        actor = users.sign_in(
            ctx,
            form.text("login") or "",
            str(form.form.get("password") or ""),
            address=client_address(request),
        )
    except ScandepotError as exc:
        return page(
            request,
            form.visitor,
            "login.html",
            status=429 if exc.code == "too_many_attempts" else 401,
            title="Sign in",
            next=target,
            login_token=cookie,
            error=exc.message,
            login=form.text("login") or "",
        )
    signed = logins.open_session(ctx, actor, user_agent=request.headers.get("user-agent"))
    response = redirect(target)
    set_session_cookie(response, request, signed)
    response.delete_cookie(LOGIN_CSRF, path="/login")
    return response


@router.post("/logout")
def logout(ctx: CtxDep, form: PostedDep) -> Response:
    logins.close_session(ctx, form.actor)
    response = redirect("/login", ok="You are signed out.")
    clear_session_cookie(response)
    return response


@router.get("/tokens")
def token_list(request: Request, ctx: CtxDep, visitor: VisitorDep) -> Response:
    require_signed_in(visitor.actor)
    return page(
        request,
        visitor,
        "tokens.html",
        title="API tokens",
        tokens=tokens.list_tokens(ctx, visitor.actor),
    )


@router.post("/tokens")
def token_create(request: Request, ctx: CtxDep, form: PostedDep) -> Response:
    require_signed_in(form.actor)
    days = form.text("expires_in_days")
    try:
        if days is not None and not days.isdigit():
            raise Invalid("Days must be a whole number.", field="expires_in_days")
        data = TokenCreate(
            name=form.text("name") or "", expires_in_days=int(days) if days else None
        )
        new = tokens.create(ctx, form.actor, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form("/tokens", exc)
    return page(
        request,
        form.visitor,
        "tokens.html",
        title="API tokens",
        tokens=tokens.list_tokens(ctx, form.actor),
        new_token=new.token,
        new_name=new.record.name,
    )


@router.post("/tokens/{token_id}/revoke")
def token_revoke(ctx: CtxDep, form: PostedDep, token_id: int) -> Response:
    require_signed_in(form.actor)
    tokens.revoke(ctx, form.actor, token_id)
    return redirect("/tokens", ok=f"Token {token_id} is revoked; it no longer works.")
