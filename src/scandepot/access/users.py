"""User accounts: creation, sign-in by password, enabling and disabling, passwords."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit, throttle
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.passwords import (
    MIN_LENGTH,
    generate_password,
    hash_password,
    is_remembered,
    verify_password,
)
from scandepot.access.permissions import require_signed_in, require_site_admin
from scandepot.catalog.access import LoginSession, User
from scandepot.catalog.paging import Page, PageRequest, like, paginate
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Invalid, NotFound, Unauthorized

ADMIN_LOGIN = "admin"
LOGIN_RULE = "letters, digits, '.', '-', '_' and '@', starting with a letter or digit, at most 64"
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str
    full_name: str = Field(default="", max_length=255)
    email: EmailStr | None = None
    password: str | None = Field(default=None, max_length=1024)
    site_admin: bool = False
    enabled: bool = True


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str | None = Field(default=None, max_length=255)
    email: EmailStr | None = None
    password: str | None = Field(default=None, max_length=1024)
    site_admin: bool | None = None
    curator: bool | None = None  # the site's curator role: validates datasets
    enabled: bool | None = None


def check_login(value: str) -> str:
    if not _LOGIN.fullmatch(value):
        raise Invalid(f"login must be {LOGIN_RULE} characters.", field="login")
    return value


def check_password(value: str, *, field: str = "password") -> str:
    if len(value) < MIN_LENGTH:
        raise Invalid(f"{field} must be at least {MIN_LENGTH} characters.", field=field)
    return value


def actor_for(user: User, *, address: str | None = None, via: str | None = None) -> Actor:
    return Actor(
        user_id=user.id,
        login=user.login,
        is_site_admin=user.is_site_admin,
        address=address,
        via=via,
    )


def _load(db: DBSession, login: str) -> User:
    user = db.scalar(select(User).where(User.login == login))
    if user is None:
        raise NotFound(f"User '{login}' not found.", field="login")
    return user


def ensure_admin(ctx: Context) -> str | None:
    """Create the ``admin`` account on first start.

    Returns the generated password when one had to be made (to be shown once), else None.
    """
    with ctx.db.write() as db:
        if db.scalar(select(func.count(User.id)).where(User.is_site_admin.is_(True))):
            return None
        configured = ctx.settings.admin_password
        password = configured.get_secret_value() if configured else generate_password()
        check_password(password, field="SCANDEPOT_ADMIN_PASSWORD")
        try:
            with db.begin_nested():
                db.add(
                    User(
                        login=ADMIN_LOGIN,
                        full_name="Site administrator",
                        password_hash=hash_password(password),
                        is_site_admin=True,
                    )
                )
                db.flush()
        except IntegrityError:  # another server's first start made it just now?
            if db.scalar(select(func.count(User.id)).where(User.is_site_admin.is_(True))):
                return None
            raise Conflict(
                f"No site administrator, and the login '{ADMIN_LOGIN}' is taken by an "
                "account that is not one; make it one with `scandepot user`."
            ) from None
    return None if configured else password


def sign_in(
    ctx: Context, login: str, password: str, *, address: str | None, method: str = "form"
) -> Actor:
    """Check a login and password, counting failures against the rate limit.

    Every failure gives the same answer, whether the account exists or not, is disabled,
    or the password is wrong. HTTP Basic comes here on every request (XNAT clients work
    that way): a proven password is remembered for a few minutes (access/passwords.py),
    and only a fresh proof is logged as a sign-in.
    """
    with throttle.one_at_a_time(login[:64]):
        with ctx.db.read() as db:
            throttle.check(db, ctx.settings, login=login[:64], address=address)
            user = db.scalar(select(User).where(User.login == login))
        fresh = user is None or not is_remembered(user.password_hash, password)
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok or not user.enabled:
            attempt = Actor(user_id=None, login=login[:64], address=address)
            audit.record_now(ctx, attempt, throttle.FAILED, method=method)
            raise Unauthorized("Invalid credentials.")
        actor = actor_for(user, address=address, via="password")
        if fresh and method == "basic":
            audit.record_now(ctx, actor, throttle.SUCCEEDED, method=method)
    return actor


def list_users(
    ctx: Context, actor: Actor, page: PageRequest, *, q: str | None = None
) -> Page[User]:
    require_site_admin(actor)
    stmt = select(User)
    if q:
        stmt = stmt.where(like(User.login, q) | like(User.full_name, q) | like(User.email, q))
    with ctx.db.read() as db:
        return paginate(
            db,
            stmt,
            page,
            sort_fields={"login": User.login, "created": User.created_at},
            default_sort="login",
            tiebreak=User.id,
        )


def get(ctx: Context, actor: Actor, login: str) -> User:
    if actor.login != login or actor.user_id is None:
        require_site_admin(actor)
    with ctx.db.read() as db:
        return _load(db, login)


def create(ctx: Context, actor: Actor, data: UserCreate) -> tuple[User, str | None]:
    """Create an account; returns it and the generated password when none was given."""
    require_site_admin(actor)
    login = check_login(data.login)
    password = check_password(data.password) if data.password is not None else None
    generated = None if password is not None else generate_password()
    with ctx.db.write() as db:
        if db.scalar(select(User.id).where(func.lower(User.login) == login.lower())):
            raise Conflict(f"A user with login '{login}' already exists.", field="login")
        user = User(
            login=login,
            full_name=data.full_name,
            email=data.email or "",
            password_hash=hash_password(password or generated or ""),
            is_site_admin=data.site_admin,
            enabled=data.enabled,
        )
        db.add(user)
        audit.record(db, actor, AuditAction.USER_CREATED, target=login, site_admin=data.site_admin)
    return user, generated


def update(ctx: Context, actor: Actor, login: str, data: UserUpdate) -> User:
    require_site_admin(actor)
    changes = data.model_dump(exclude_unset=True)
    with ctx.db.write() as db:
        user = _load(db, login)
        if "full_name" in changes and changes["full_name"] is not None:
            user.full_name = changes["full_name"]
        if "email" in changes:
            user.email = changes["email"] or ""
        if changes.get("enabled") is not None and changes["enabled"] != user.enabled:
            if not changes["enabled"] and user.id == actor.user_id:
                raise Conflict("You cannot disable your own account.")
            if not changes["enabled"]:
                _keep_an_admin(db, user)
            user.enabled = changes["enabled"]
            audit.record(
                db,
                actor,
                AuditAction.USER_ENABLED if user.enabled else AuditAction.USER_DISABLED,
                target=login,
            )
            if not user.enabled:
                db.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
        if changes.get("site_admin") is not None and changes["site_admin"] != user.is_site_admin:
            if not changes["site_admin"]:
                _keep_an_admin(db, user)
            user.is_site_admin = changes["site_admin"]
            audit.record(
                db, actor, AuditAction.USER_SITE_ADMIN, target=login, site_admin=user.is_site_admin
            )
        if changes.get("curator") is not None and changes["curator"] != user.is_curator:
            user.is_curator = changes["curator"]
            audit.record(db, actor, AuditAction.USER_CURATOR, target=login, curator=user.is_curator)
        if changes.get("password") is not None:
            _set_password(db, actor, user, check_password(changes["password"]))
        return user


def _keep_an_admin(db: DBSession, user: User) -> None:
    """Refuse to demote or disable the last enabled site administrator."""
    if not (user.is_site_admin and user.enabled):
        return
    others = db.scalar(
        select(func.count(User.id)).where(
            User.is_site_admin.is_(True), User.enabled.is_(True), User.id != user.id
        )
    )
    if not others:
        raise Conflict(f"'{user.login}' is the last enabled site administrator.")


def _set_password(
    db: DBSession, actor: Actor, user: User, password: str, *, keep_session: int | None = None
) -> None:
    """Set a password and end every browser sign-in of the user but ``keep_session``."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    stmt = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_session is not None:
        stmt = stmt.where(LoginSession.id != keep_session)
    db.execute(stmt)
    audit.record(db, actor, throttle.PASSWORD_CHANGED, target=user.login)


def change_own_password(ctx: Context, actor: Actor, current: str, new: str) -> None:
    """A wrong current password is a failed sign-in: counted and limited with them (a
    stolen token must not become unlimited guesses at the password) and audited."""
    require_signed_in(actor)
    with ctx.db.read() as db:
        throttle.check(db, ctx.settings, login=actor.login, address=actor.address)
    check_password(new, field="new_password")
    with ctx.db.write() as db:
        user = db.get(User, actor.user_id)
        if user is not None and verify_password(user.password_hash, current):
            _set_password(db, actor, user, new, keep_session=actor.login_session_id)
            return
    audit.record_now(ctx, actor, throttle.FAILED, method="password_change")
    raise Invalid("The current password is not right.", field="current_password")


def set_password(ctx: Context, actor: Actor, login: str, password: str) -> None:
    """Set anyone's password (site admins, and the command line as SYSTEM)."""
    require_site_admin(actor)
    check_password(password)
    with ctx.db.write() as db:
        _set_password(db, actor, _load(db, login), password)
