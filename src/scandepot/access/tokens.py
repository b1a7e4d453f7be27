"""API tokens: created by their user, shown once, stored as a SHA-256, revocable.

A token is ``sdt_`` and 43 random URL-safe characters (256 bits). It is sent as
``Authorization: Bearer <token>``. The first characters are kept in clear as a prefix so
that a listing can tell tokens apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import require_signed_in
from scandepot.catalog.access import ApiToken, User
from scandepot.catalog.labels import check_label
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Forbidden, Invalid, NotFound

PREFIX = "sdt_"
_SHOWN = 12  # characters kept in clear: "sdt_" and 8 more


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


@dataclass(frozen=True, slots=True)
class NewToken:
    record: ApiToken
    token: str  # the only time the secret exists outside the client


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(ctx: Context, actor: Actor, data: TokenCreate) -> NewToken:
    require_signed_in(actor)
    if actor.via == "token":
        # A leaked token must not be able to mint others that outlive it.
        raise Forbidden("Create API tokens with a password or a browser sign-in, not a token.")
    name = check_label(data.name, field="name")
    days = data.expires_in_days
    limit = ctx.settings.token_max_days
    if limit is not None:
        if days is None:
            days = limit
        elif days > limit:
            raise Invalid(f"expires_in_days must be at most {limit}.", field="expires_in_days")
    token = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    record = ApiToken(
        user_id=actor.user_id,
        name=name,
        prefix=token[:_SHOWN],
        token_hash=digest(token),
        created_at=now,
        expires_at=now + dt.timedelta(days=days) if days else None,
    )
    with ctx.db.write() as db:
        db.add(record)
        db.flush()
        audit.record(
            db, actor, AuditAction.AUTH_TOKEN_CREATED, target=f"token:{record.id}", name=name
        )
    return NewToken(record, token)


def list_tokens(ctx: Context, actor: Actor) -> list[ApiToken]:
    require_signed_in(actor)
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == actor.user_id, ApiToken.revoked_at.is_(None))
                .order_by(ApiToken.created_at)
            )
        )


def revoke(ctx: Context, actor: Actor, token_id: int) -> None:
    require_signed_in(actor)
    with ctx.db.write() as db:
        record = db.scalar(
            select(ApiToken).where(
                ApiToken.id == token_id,
                ApiToken.user_id == actor.user_id,
                ApiToken.revoked_at.is_(None),
            )
        )
        if record is None:
            raise NotFound(f"Token {token_id} not found.", field="token_id")
        record.revoked_at = utcnow()
        audit.record(db, actor, AuditAction.AUTH_TOKEN_REVOKED, target=f"token:{record.id}")


def authenticate(ctx: Context, token: str, *, address: str | None) -> Actor | None:
    """The actor behind a live token of an enabled account, else None."""
    if not token.startswith(PREFIX) or len(token) > 128:
        return None
    now = utcnow()
    with ctx.db.read() as db:
        row = db.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest(token))
        ).first()
    if row is None:
        return None
    record, user = row
    if record.revoked_at is not None or not user.enabled:
        return None
    if record.expires_at is not None and record.expires_at <= now:
        return None
    if record.last_used_at is None or now - record.last_used_at > dt.timedelta(minutes=5):
        _touch(ctx, record.id, now)
    return Actor(
        user_id=user.id,
        login=user.login,
        is_site_admin=user.is_site_admin,
        address=address,
        via="token",
    )


def _touch(ctx: Context, token_id: int, now: dt.datetime) -> None:
    # Coarse (every five minutes at most) so that scripts do not turn reads into writes.
    with ctx.db.write() as db:
        db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
