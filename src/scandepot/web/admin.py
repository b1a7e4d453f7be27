"""Site administration: user accounts and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.access import audit, users
from scandepot.access.permissions import require_site_admin
from scandepot.access.users import UserCreate, UserUpdate
from scandepot.catalog.paging import PageRequest
from scandepot.errors import Invalid, ScandepotError
from scandepot.web.deps import CtxDep, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter(prefix="/admin")

Text = Annotated[str | None, Query(max_length=200)]
Offset = Annotated[int, Query(ge=0)]


def moment(value: str | None, field: str) -> dt.datetime | None:
    """A date or a date and time, UTC unless a zone is given."""
    if not value:
        return None
    try:
        found = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"'{value}' is not a date or time (YYYY-MM-DD).", field=field) from None
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


@router.get("/users")
def user_list(
    request: Request, ctx: CtxDep, visitor: VisitorDep, q: Text = None, offset: Offset = 0
) -> Response:
    require_site_admin(visitor.actor)
    pattern = None if not q else (q if "*" in q else f"*{q}*")
    found = users.list_users(ctx, visitor.actor, PageRequest(limit=100, offset=offset), q=pattern)
    return page(
        request, visitor, "users.html", title="Users", found=found, q=q or "", params={"q": q}
    )


@router.post("/users")
def user_create(request: Request, ctx: CtxDep, form: PostedDep) -> Response:
    require_site_admin(form.actor)
    try:
        data = UserCreate(
            login=form.text("login") or "",
            full_name=form.text("full_name") or "",
            email=form.text("email"),
            password=form.text("password"),
            site_admin=form.flag("site_admin"),
        )
        user, password = users.create(ctx, form.actor, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form("/admin/users", exc)
    if not password:
        return redirect(f"/admin/users?q={user.login}", ok=f"Account {user.login} is created.")
    # A generated password is shown on this page once, and never carried in a redirect.
    found = users.list_users(ctx, form.actor, PageRequest(limit=100), q=user.login)
    return page(
        request,
        form.visitor,
        "users.html",
        title="Users",
        found=found,
        q=user.login,
        params={"q": user.login},
        new_login=user.login,
        new_password=password,
    )


@router.post("/users/{login}")
def user_update(ctx: CtxDep, form: PostedDep, login: str) -> Response:
    require_site_admin(form.actor)
    back = f"/admin/users?q={login}"
    try:
        data = UserUpdate(
            full_name=form.text("full_name"),
            email=form.text("email"),
            password=form.text("password"),
            site_admin=form.flag("site_admin"),
            enabled=form.flag("enabled"),
        )
        users.update(ctx, form.actor, login, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"Account {login} is saved.")


@router.get("/audit")
def audit_log(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    action: Text = None,
    login: Text = None,
    project: Text = None,
    since: Text = None,
    until: Text = None,
    offset: Offset = 0,
) -> Response:
    require_site_admin(visitor.actor)
    found = audit.list_events(
        ctx,
        visitor.actor,
        PageRequest(limit=100, offset=offset),
        action=action,
        login=login,
        project=project,
        since=moment(since, "since"),
        until=moment(until, "until"),
    )
    params = {"action": action, "login": login, "project": project, "since": since}
    params["until"] = until
    return page(request, visitor, "audit.html", title="Audit log", found=found, params=params)
