"""Who signs in to the SFTP server: a drop account (``PROJECT+name``) or a scandepot
user, by password or by a registered public key.

Failed passwords count against the same limits as HTTP sign-ins (access/throttle.py):
the same audit events, per name and per client address. A public key offered and not
known is not a failure (clients offer each key they hold in turn), but a name or address
over the limit is refused every way in.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit, throttle, users
from scandepot.access.actors import Actor
from scandepot.access.passwords import verify_password
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.drops import DropAccount, SshKey
from scandepot.context import Context
from scandepot.errors import Unauthorized
from scandepot.ingest.drop_accounts import SEPARATOR


@dataclass(frozen=True, slots=True)
class DropPrincipal:
    """A signed-in drop account: it may write into its project's drop folder, no more."""

    account_id: int
    project_id: int
    project: str
    username: str
    address: str | None


Principal = DropPrincipal | Actor


def _drop_account(db: DBSession, username: str) -> tuple[DropAccount, Project] | None:
    row = db.execute(
        select(DropAccount, Project)
        .join(Project, Project.id == DropAccount.project_id)
        .where(DropAccount.username == username, DropAccount.enabled.is_(True))
    ).first()
    return None if row is None else (row[0], row[1])


def _principal(account: DropAccount, project: Project, address: str | None) -> DropPrincipal:
    return DropPrincipal(account.id, project.id, project.label, account.username, address)


def signed_in(ctx: Context, principal: Principal, method: str) -> None:
    login = principal.login if isinstance(principal, Actor) else principal.username
    who = Actor(user_id=None, login=login[:64], address=principal.address)
    if isinstance(principal, Actor):
        who = principal
    audit.record_now(ctx, who, throttle.SUCCEEDED, method=method)


def by_password(ctx: Context, username: str, password: str, *, address: str | None) -> Principal:
    """The principal ``username`` and ``password`` prove; :class:`Unauthorized` (counted
    as a failed sign-in) or ``TooManyAttempts`` otherwise."""
    if SEPARATOR not in username:
        actor = users.sign_in(ctx, username, password, address=address, method="sftp")
        signed_in(ctx, actor, "sftp")
        return actor
    with throttle.one_at_a_time(username[:64]):
        with ctx.db.read() as db:
            throttle.check(db, ctx.settings, login=username[:64], address=address)
            found = _drop_account(db, username)
        ok = verify_password(found[0].password_hash if found else None, password)
        if found is None or not ok:
            attempt = Actor(user_id=None, login=username[:64], address=address)
            audit.record_now(ctx, attempt, throttle.FAILED, method="sftp")
            raise Unauthorized("Invalid credentials.")
    principal = _principal(*found, address)
    signed_in(ctx, principal, "sftp")
    return principal


def by_key(
    ctx: Context, username: str, fingerprint: str, *, address: str | None
) -> Principal | None:
    """Who ``username`` is when the key of ``fingerprint`` is theirs, else None (the
    signature is the SSH library's to check; :func:`signed_in` once it has)."""
    with ctx.db.read() as db:
        throttle.check(db, ctx.settings, login=username[:64], address=address)
        stmt = select(SshKey.id).where(SshKey.fingerprint == fingerprint)
        if SEPARATOR in username:
            found = _drop_account(db, username)
            if found is None:
                return None
            stmt = stmt.where(SshKey.drop_account_id == found[0].id)
            principal: Principal = _principal(*found, address)
        else:
            user = db.scalar(select(User).where(User.login == username, User.enabled.is_(True)))
            if user is None:
                return None
            stmt = stmt.where(SshKey.user_id == user.id)
            principal = users.actor_for(user, address=address, via="key")
        return principal if db.scalar(stmt.limit(1)) is not None else None
