"""The secrets of push destinations (a password, a bearer token): stored encrypted with the
site's key, or named as an environment variable and read when they are needed.

The site's key is the ``secrets_key`` setting (a Fernet key), or else ``secrets.key`` in
the data folder, made at first use and readable by its owner only. A secret is never shown
back: listings say only whether one is set.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from scandepot.context import Context
from scandepot.errors import Conflict, Invalid

KEY_FILE = "secrets.key"
SECRET_MAX = 4096
# A POSIX environment variable name.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")

_lock = threading.Lock()


class SecretUnreadable(Invalid):
    """A stored secret the site's key cannot decrypt, or an environment variable that is
    not set: trying again does not help until an administrator mends it."""


def checked_secret(value: str, *, field: str = "secret") -> str:
    if not 1 <= len(value) <= SECRET_MAX:
        raise Invalid(f"The secret must be 1 to {SECRET_MAX} characters.", field=field)
    if not value.isprintable():
        raise Invalid("The secret must be printable characters only.", field=field)
    return value


def checked_env_name(value: str, *, field: str = "secret_env") -> str:
    name = value.strip()
    if not _ENV_NAME.fullmatch(name):
        raise Invalid(
            "secret_env must be the name of an environment variable: letters, digits and "
            "underscores, not starting with a digit.",
            field=field,
        )
    return name


def encrypt(ctx: Context, secret: str) -> str:
    """``secret`` encrypted with the site's key, as text to store."""
    return _fernet(ctx, create=True).encrypt(secret.encode()).decode("ascii")


def decrypt(ctx: Context, token: str, *, name: str = "") -> str:
    """The secret a stored token holds; :class:`SecretUnreadable` when the site's key is
    not the one it was stored under."""
    try:
        return _fernet(ctx, create=False).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError, UnicodeError):
        whose = f" of destination '{name}'" if name else ""
        raise SecretUnreadable(
            f"The stored secret{whose} cannot be decrypted with this site's key "
            "(SCANDEPOT_SECRETS_KEY or secrets.key in the data folder changed since it was "
            "stored): set the secret again.",
            field="secret",
        ) from None


def from_env(env_name: str, *, name: str = "") -> str:
    """The secret held by environment variable ``env_name``, read now."""
    value = os.environ.get(env_name)
    if not value:
        whose = f" of destination '{name}'" if name else ""
        raise SecretUnreadable(
            f"The secret{whose} is read from the environment variable {env_name}, "
            "which is not set in this process.",
            field="secret_env",
        )
    return value


def resolve(ctx: Context, token: str | None, env_name: str | None, *, name: str = "") -> str | None:
    """The secret as stored (a token) or referenced (an environment variable); None for none."""
    if token:
        return decrypt(ctx, token, name=name)
    if env_name:
        return from_env(env_name, name=name)
    return None


def _fernet(ctx: Context, *, create: bool) -> Fernet:
    configured = ctx.settings.secrets_key
    if configured is not None:
        return _parsed(configured.get_secret_value(), "SCANDEPOT_SECRETS_KEY")
    path = ctx.settings.data_dir.resolve() / KEY_FILE
    with _lock:
        if not path.exists():
            if not create:
                raise SecretUnreadable(
                    f"No secrets key: SCANDEPOT_SECRETS_KEY is unset and {path} does not "
                    "exist, so stored secrets cannot be decrypted: set the secret again.",
                    field="secret",
                )
            _make_key_file(ctx, path)
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeError) as exc:
            raise SecretUnreadable(f"The secrets key {path} cannot be read: {exc}") from None
    return _parsed(text.strip(), str(path))


def _parsed(key: str, source: str) -> Fernet:
    try:
        return Fernet(key.encode("ascii"))
    except (ValueError, UnicodeError):
        raise SecretUnreadable(
            f"The secrets key in {source} is not a Fernet key (32 bytes in URL-safe base64).",
            field="secrets_key",
        ) from None


def _make_key_file(ctx: Context, path: Path) -> None:
    """A new key, written durably and atomically, readable by its owner only; a key made
    at the same time by another process wins, and this one is dropped."""
    with ctx.store.stage(hashed=False) as staged:
        os.chmod(staged.tmp_path, 0o600)
        staged.write(Fernet.generate_key() + b"\n")
        try:
            staged.publish(path)
        except Conflict:
            pass
