"""Password hashing with Argon2id (argon2-cffi's defaults follow RFC 9106).

Argon2 is slow on purpose (tens of milliseconds). Scripts and XNAT clients send HTTP Basic
credentials on every request, so a password proven right is remembered in memory as a
keyed hash (HMAC with a key that never leaves the process), bound to the stored hash: a
password change or reset invalidates it at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so both paths cost the same
    time; made at the first such sign-in, not at import (a quarter of a second that every
    command would pay)."""
    return _hasher.hash(secrets.token_urlsafe(16))


MIN_LENGTH = 8
_CACHE_TTL_S = 300.0
_CACHE_MAX = 10_000


class _VerifiedCache:
    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[bytes, float]] = {}

    def _mac(self, password_hash: str, password: str) -> bytes:
        message = password_hash.encode() + b"\x00" + password.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def hit(self, password_hash: str, password: str) -> bool:
        with self._lock:
            entry = self._entries.get(password_hash)
        if entry is None or entry[1] < time.monotonic():
            return False
        return hmac.compare_digest(entry[0], self._mac(password_hash, password))

    def remember(self, password_hash: str, password: str) -> None:
        with self._lock:
            if len(self._entries) >= _CACHE_MAX:
                self._entries.clear()
            expiry = time.monotonic() + _CACHE_TTL_S
            self._entries[password_hash] = (self._mac(password_hash, password), expiry)


_verified = _VerifiedCache()


def is_remembered(password_hash: str | None, password: str) -> bool:
    """True when this password was proven for this hash a short while ago."""
    return password_hash is not None and _verified.hit(password_hash, password)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if password_hash is not None and _verified.hit(password_hash, password):
        return True
    try:
        ok = _hasher.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    if ok and password_hash is not None:
        _verified.remember(password_hash, password)
        return True
    return False


def generate_password() -> str:
    return secrets.token_urlsafe(18)
