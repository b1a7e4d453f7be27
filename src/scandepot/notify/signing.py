"""Webhook signatures: HMAC-SHA256 of the body, with the webhook's secret, in hex.

The header ``X-Scandepot-Signature`` carries ``sha256=<hex>``; a receiver computes the
same over the bytes it received and compares the two in constant time
(docs/notifications.md shows how).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "sha256="
SECRET_MIN = 16
SECRET_MAX = 256


def new_secret() -> str:
    """A secret for a webhook that was given none: 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def signature(secret: str, body: bytes) -> str:
    """The value of ``X-Scandepot-Signature`` for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def matches(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` (compared in constant time)."""
    return hmac.compare_digest(signature(secret, body), header)


def hint(secret: str) -> str:
    """What a listing may show of a secret: its last 4 characters, and only of a long one."""
    return secret[-4:] if len(secret) >= SECRET_MIN else ""
