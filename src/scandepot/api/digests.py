"""Integrity headers: Content-Digest / Repr-Digest (RFC 9530) and Content-MD5 (RFC 1864)."""

from __future__ import annotations

import base64
import binascii
import re

from starlette.datastructures import Headers

from scandepot.errors import Invalid
from scandepot.storage.store import StoredDigest

_ITEM = re.compile(r"\s*([A-Za-z0-9-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*")


def expected_digests(headers: Headers) -> dict[str, str]:
    """The hex digests a client declared for the body it sends, by algorithm."""
    expected: dict[str, str] = {}
    for name in ("content-digest", "repr-digest"):
        value = headers.get(name)
        if not value:
            continue
        for item in value.split(","):
            match = _ITEM.fullmatch(item)
            if match is None:
                raise Invalid(f"Malformed {name} header.", field=name)
            algorithm = match.group(1).lower()
            if algorithm in ("sha-256", "md5"):
                expected[algorithm] = _hex(match.group(2), name)
    md5 = headers.get("content-md5")
    if md5:
        expected["md5"] = _hex(md5.strip(), "content-md5")
    return expected


def verify(expected: dict[str, str], digest: StoredDigest) -> None:
    actual = {"sha-256": digest.sha256, "md5": digest.md5}
    for algorithm, value in expected.items():
        if actual[algorithm] != value:
            raise Invalid(
                f"The body's {algorithm} digest does not match the one declared; "
                "nothing was stored.",
                field="body",
            )


def repr_digest(sha256_hex: str) -> str:
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode()}:"


def _hex(b64: str, header: str) -> str:
    try:
        return base64.b64decode(b64, validate=True).hex()
    except binascii.Error:
        raise Invalid(f"Malformed {header} header.", field=header) from None
