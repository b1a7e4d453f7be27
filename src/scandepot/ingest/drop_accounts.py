"""Drop accounts: write-only SFTP sign-ins of one project, for scanner consoles and lab
computers. Each signs in as ``PROJECT+name`` with a password, public keys, or both;
project owners (and site admins) make and remove them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.passwords import MIN_LENGTH, generate_password, hash_password
from scandepot.access.permissions import Action, load_project
from scandepot.catalog.archive import Project
from scandepot.catalog.drops import DropAccount, SshKey
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid, NotFound
from scandepot.ingest import ssh_keys

SEPARATOR = "+"  # in no user login: the two kinds of sign-in name never meet
NAME_RULE = "letters, digits, '.', '-' and '_', starting with a letter or digit, at most 64"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class DropAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    password: str | None = Field(default=None, max_length=1024)
    public_keys: list[str] = Field(default_factory=list, max_length=32)


class DropAccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, max_length=1024)
    add_public_keys: list[str] = Field(default_factory=list, max_length=32)
    remove_fingerprints: list[str] = Field(default_factory=list, max_length=32)
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class DropAccountView:
    username: str
    project: str
    name: str
    enabled: bool
    has_password: bool
    keys: list[ssh_keys.KeyView]
    created_at: datetime


def username(project: str, name: str) -> str:
    return f"{project}{SEPARATOR}{name}"


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise Invalid(f"name must be {NAME_RULE} characters.", field="name")
    return name


def _check_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise Invalid(f"password must be at least {MIN_LENGTH} characters.", field="password")
    return password


def _view(db: DBSession, project: Project, account: DropAccount) -> DropAccountView:
    keys = db.scalars(
        select(SshKey).where(SshKey.drop_account_id == account.id).order_by(SshKey.id)
    )
    return DropAccountView(
        account.username,
        project.label,
        account.username.split(SEPARATOR, 1)[1],
        account.enabled,
        account.password_hash is not None,
        [ssh_keys.view(k) for k in keys],
        account.created_at,
    )


def _load(db: DBSession, project: Project, name: str) -> DropAccount:
    account = db.scalar(
        select(DropAccount).where(
            DropAccount.project_id == project.id,
            DropAccount.username == username(project.label, name),
        )
    )
    if account is None:
        raise NotFound(f"Drop account '{name}' not found in '{project.label}'.", field="name")
    return account


def _add_keys(db: DBSession, account: DropAccount, lines: list[str]) -> None:
    for line in lines:
        key = ssh_keys.parse(line, field="public_keys")
        db.add(
            SshKey(
                drop_account_id=account.id,
                fingerprint=key.fingerprint,
                public_key=key.line,
                comment=key.comment,
            )
        )


def list_accounts(ctx: Context, actor: Actor, project: str) -> list[DropAccountView]:
    with ctx.db.read() as db:
        found = load_project(db, actor, project, Action.CONFIGURE)
        accounts = db.scalars(
            select(DropAccount)
            .where(DropAccount.project_id == found.id)
            .order_by(DropAccount.username)
        )
        return [_view(db, found, a) for a in accounts]


def create(
    ctx: Context, actor: Actor, project: str, data: DropAccountCreate
) -> tuple[DropAccountView, str | None]:
    """Make a drop account; returns it and a generated password when it was given neither
    a password nor a key (shown once)."""
    name = _check_name(data.name)
    password = _check_password(data.password) if data.password is not None else None
    generated = generate_password() if password is None and not data.public_keys else None
    with ctx.db.write() as db:
        found = load_project(db, actor, project, Action.CONFIGURE)
        full = username(found.label, name)
        same = func.lower(DropAccount.username) == full.lower()
        if db.scalar(select(DropAccount.id).where(same)):
            raise Conflict(f"The drop account '{full}' exists already.", field="name")
        secret = password or generated
        account = DropAccount(
            project_id=found.id,
            username=full,
            password_hash=hash_password(secret) if secret is not None else None,
        )
        db.add(account)
        db.flush()
        _add_keys(db, account, data.public_keys)
        db.flush()
        audit.record(
            db,
            actor,
            AuditAction.DROP_ACCOUNT_CREATED,
            project=found.label,
            target=full,
            password=secret is not None,
            keys=len(data.public_keys),
        )
        return _view(db, found, account), generated


def update(
    ctx: Context, actor: Actor, project: str, name: str, data: DropAccountUpdate
) -> DropAccountView:
    password = _check_password(data.password) if data.password is not None else None
    with ctx.db.write() as db:
        found = load_project(db, actor, project, Action.CONFIGURE)
        account = _load(db, found, name)
        changes: list[str] = []
        if password is not None:
            account.password_hash = hash_password(password)
            changes.append("password")
        if data.add_public_keys:
            _add_keys(db, account, data.add_public_keys)
            changes.append("keys_added")
        for fingerprint in data.remove_fingerprints:
            key = db.scalar(
                select(SshKey).where(
                    SshKey.drop_account_id == account.id, SshKey.fingerprint == fingerprint
                )
            )
            if key is None:
                raise NotFound(f"No key {fingerprint} on '{account.username}'.", field="key")
            db.delete(key)
            changes.append("key_removed")
        if data.enabled is not None and data.enabled != account.enabled:
            account.enabled = data.enabled
            changes.append("enabled" if data.enabled else "disabled")
        db.flush()
        audit.record(
            db,
            actor,
            AuditAction.DROP_ACCOUNT_CHANGED,
            project=found.label,
            target=account.username,
            change=changes,
        )
        return _view(db, found, account)


def delete(ctx: Context, actor: Actor, project: str, name: str) -> None:
    with ctx.db.write() as db:
        found = load_project(db, actor, project, Action.CONFIGURE)
        account = _load(db, found, name)
        db.delete(account)
        audit.record(
            db,
            actor,
            AuditAction.DROP_ACCOUNT_REMOVED,
            project=found.label,
            target=account.username,
        )
