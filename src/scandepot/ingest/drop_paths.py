"""Paths as SFTP clients send them, checked before any folder is built from them.

SFTP paths are the client's view: ``/`` is the top of what the account may see (a drop
account's project folder, a researcher's list of projects), never the server's root, so
an absolute path names something inside that view. Refused, whatever the account: parts
``..`` (resolved only by ``realpath``, and never above ``/``), NUL and other control
characters, backslashes, bytes that are not UTF-8, and over-long paths.
"""

from __future__ import annotations

import unicodedata

from scandepot.catalog.labels import PATH_MAX, PATH_PART_MAX
from scandepot.errors import Invalid


def _bad(reason: str) -> Invalid:
    return Invalid(f"path {reason}.", field="path")


def _text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("must be UTF-8") from None
    if "\x00" in text:
        raise _bad("must not contain NUL")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise _bad("must not contain control characters")
    if "\\" in text:
        raise _bad("must not contain backslashes")
    if len(raw) > PATH_MAX:
        raise _bad(f"must be at most {PATH_MAX} bytes")
    return unicodedata.normalize("NFC", text)


def parts(raw: bytes) -> tuple[str, ...]:
    """The names along ``raw`` from the top of the view ('' and '.' parts dropped)."""
    found: list[str] = []
    for part in _text(raw).split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise _bad("must not contain '..' parts")
        if len(part.encode()) > PATH_PART_MAX:
            raise _bad(f"parts must be at most {PATH_PART_MAX} bytes")
        found.append(part)
    return tuple(found)


def real(raw: bytes) -> str:
    """What SFTP's realpath answers: ``raw`` made absolute, '..' taken lexically and
    never above ``/``."""
    found: list[str] = []
    for part in _text(raw).split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if found:
                found.pop()
            continue
        found.append(part)
    return "/" + "/".join(found)
