"""Shapes of accounts, tokens, roles and audit events in the native API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from scandepot.access.roles import Membership
from scandepot.catalog.access import ApiToken, AuditEvent, User


class UserOut(BaseModel):
    login: str
    full_name: str
    email: str
    enabled: bool
    site_admin: bool
    curator: bool = False  # the site's curator role (datasets)
    created_at: dt.datetime


class NewUserOut(UserOut):
    password: str | None  # only when one was generated; shown once


class MeOut(UserOut):
    csrf_token: str | None  # for requests made with the session cookie


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None


class NewTokenOut(TokenOut):
    token: str  # shown once


class MemberOut(BaseModel):
    login: str
    full_name: str
    role: str


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    address: str | None
    action: str
    project: str | None
    target: str | None
    detail: dict[str, Any]


def user_out(u: User) -> UserOut:
    return UserOut(
        login=u.login,
        full_name=u.full_name,
        email=u.email,
        enabled=u.enabled,
        site_admin=u.is_site_admin,
        curator=u.is_curator,
        created_at=u.created_at,
    )


def token_out(t: ApiToken) -> TokenOut:
    return TokenOut.model_validate(t, from_attributes=True)


def member_out(m: Membership) -> MemberOut:
    return MemberOut(login=m.login, full_name=m.full_name, role=m.role.word)


def audit_out(e: AuditEvent) -> AuditOut:
    return AuditOut(
        id=e.id,
        at=e.at,
        actor=e.actor_login,
        address=e.address,
        action=e.action,
        project=e.project,
        target=e.target,
        detail=e.detail,
    )
