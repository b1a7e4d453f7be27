"""Browser sign-ins: a session cookie, checked on every request, with a CSRF token.

The cookie holds a random secret; the catalog keeps its SHA-256, so a copy of the
catalog cannot be used to sign in. State-changing requests made with the cookie must
carry the session's CSRF token in the ``X-CSRF-Token`` header; SameSite=Lax keeps other
sites' pages from sending the cookie on most requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from scandepot.access import audit, throttle
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.catalog.access import LoginSession, User
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Forbidden

COOKIE = "scandepot_session"


@dataclass(frozen=True, slots=True)
class SignedIn:
    actor: Actor
    secret: str  # goes into the cookie, nowhere else
    csrf_token: str
    expires_at: dt.datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(ctx: Context, actor: Actor, *, user_agent: str | None) -> SignedIn:
    """Start a browser session for an actor who has just proved a password."""
    assert actor.user_id is not None
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = utcnow()
    expires = now + dt.timedelta(hours=ctx.settings.session_hours)
    with ctx.db.write() as db:
        # Expired sessions of this user go now; nothing else needs to sweep them.
        db.execute(
            delete(LoginSession).where(
                LoginSession.user_id == actor.user_id, LoginSession.expires_at <= now
            )
        )
        record = LoginSession(
            user_id=actor.user_id,
            secret_hash=_digest(secret),
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
            address=actor.address,
            user_agent=(user_agent or "")[:255] or None,
        )
        db.add(record)
        db.flush()
        audit.record(db, actor, throttle.SUCCEEDED, method="session")
        session_id = record.id
    signed = Actor(
        user_id=actor.user_id,
        login=actor.login,
        is_site_admin=actor.is_site_admin,
        address=actor.address,
        via="session",
        login_session_id=session_id,
    )
    return SignedIn(signed, secret, csrf, expires)


@dataclass(frozen=True, slots=True)
class Resolved:
    actor: Actor
    csrf_token: str


def resolve(ctx: Context, secret: str, *, address: str | None) -> Resolved | None:
    """The actor behind a session cookie, if the session is live and the account enabled."""
    if not secret or len(secret) > 128:
        return None
    with ctx.db.read() as db:
        row = db.execute(
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.secret_hash == _digest(secret))
        ).first()
    if row is None:
        return None
    record, user = row
    if record.expires_at <= utcnow() or not user.enabled:
        return None
    actor = Actor(
        user_id=user.id,
        login=user.login,
        is_site_admin=user.is_site_admin,
        address=address,
        via="session",
        login_session_id=record.id,
    )
    return Resolved(actor, record.csrf_token)


def check_csrf(expected: str, given: str | None) -> None:
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("Missing or wrong CSRF token.")


def close_session(ctx: Context, actor: Actor) -> None:
    if actor.login_session_id is None:
        return
    with ctx.db.write() as db:
        db.execute(delete(LoginSession).where(LoginSession.id == actor.login_session_id))
        audit.record(db, actor, AuditAction.AUTH_LOGOUT)
