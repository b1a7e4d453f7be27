"""SSH public keys: users register theirs to sign in to the SFTP server; drop accounts
may have some too. A key is kept as its OpenSSH line and found by its SHA-256
fingerprint (RFC 4253 §6.6 public key blob; the form ``ssh-keygen -l`` prints)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import require_signed_in, require_site_admin
from scandepot.catalog.access import User
from scandepot.catalog.drops import SshKey
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid, NotFound

KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


@dataclass(frozen=True, slots=True)
class PublicKey:
    type: str
    blob: bytes
    comment: str

    @property
    def fingerprint(self) -> str:
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode()
        return "SHA256:" + digest.rstrip("=")

    @property
    def line(self) -> str:
        return f"{self.type} {base64.b64encode(self.blob).decode()}"


@dataclass(frozen=True, slots=True)
class KeyView:
    id: int
    fingerprint: str
    type: str
    comment: str
    created_at: datetime


def parse(line: str, *, field: str = "public_key") -> PublicKey:
    """An OpenSSH public key line: ``type base64 [comment]``; the blob must name the type."""
    words = line.strip().split(maxsplit=2)
    if len(words) < 2 or words[0] not in KEY_TYPES:
        raise Invalid(
            f"{field} must be an OpenSSH public key line (e.g. 'ssh-ed25519 AAAA... me@host').",
            field=field,
        )
    try:
        blob = base64.b64decode(words[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        inner = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise Invalid(f"{field} holds no readable key.", field=field) from None
    if inner != words[0] or len(blob) < 4 + length + 16:
        raise Invalid(f"{field} holds no readable {words[0]} key.", field=field)
    comment = words[2] if len(words) > 2 else ""
    return PublicKey(words[0], blob, comment[:255])


def view(key: SshKey) -> KeyView:
    return KeyView(key.id, key.fingerprint, key.public_key.split()[0], key.comment, key.created_at)


def _user(ctx: Context, actor: Actor, login: str) -> int:
    """The id of ``login``'s account: one's own, or anyone's for a site admin."""
    require_signed_in(actor)
    if actor.login != login or actor.user_id is None:
        require_site_admin(actor)
    with ctx.db.read() as db:
        user_id = db.scalar(select(User.id).where(User.login == login))
    if user_id is None:
        raise NotFound(f"User '{login}' not found.", field="login")
    return user_id


def list_keys(ctx: Context, actor: Actor, login: str) -> list[KeyView]:
    user_id = _user(ctx, actor, login)
    with ctx.db.read() as db:
        keys = db.scalars(select(SshKey).where(SshKey.user_id == user_id).order_by(SshKey.id))
        return [view(k) for k in keys]


def add_key(ctx: Context, actor: Actor, login: str, line: str) -> KeyView:
    key = parse(line)
    user_id = _user(ctx, actor, login)
    with ctx.db.write() as db:
        taken = db.scalar(
            select(SshKey.id).where(
                SshKey.fingerprint == key.fingerprint, SshKey.user_id == user_id
            )
        )
        if taken is not None:
            raise Conflict(f"The key {key.fingerprint} is registered already.", field="public_key")
        row = SshKey(
            user_id=user_id, fingerprint=key.fingerprint, public_key=key.line, comment=key.comment
        )
        db.add(row)
        db.flush()
        audit.record(
            db, actor, AuditAction.SSH_KEY_ADDED, target=login, fingerprint=key.fingerprint
        )
        return view(row)


def remove_key(ctx: Context, actor: Actor, login: str, key_id: int) -> None:
    user_id = _user(ctx, actor, login)
    with ctx.db.write() as db:
        row = db.scalar(select(SshKey).where(SshKey.id == key_id, SshKey.user_id == user_id))
        if row is None:
            raise NotFound(f"Key {key_id} not found for '{login}'.", field="key")
        db.delete(row)
        audit.record(
            db, actor, AuditAction.SSH_KEY_REMOVED, target=login, fingerprint=row.fingerprint
        )
