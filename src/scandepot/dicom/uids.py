"""The UID grammar (PS3.5 §9.1), checked before a UID is catalogued or names a file.

A UID is a series of numeric components separated by periods: each component is ``0`` or
digits without a leading zero, and the whole is at most 64 characters. UIDs from senders
name spool files and folders, so nothing from outside may become a path without passing
:func:`check` first: a value such as ``../../tmp`` is refused, not cleaned.
"""

from __future__ import annotations

import re

MAX_LENGTH = 64  # PS3.5 §9.1
_GRAMMAR = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
# PS3.5 §6.2: a UI value of odd length is padded with one NUL; some senders pad with a space.
_PADDING = "\x00 "


class InvalidUID(ValueError):
    """A value that is not a UID, with the reason in words a sender's operator can act on."""


def is_valid(value: str) -> bool:
    """True when ``value`` (already unpadded) is a UID by the grammar of PS3.5 §9.1."""
    return len(value) <= MAX_LENGTH and _GRAMMAR.fullmatch(value) is not None


def unpad(value: str) -> str:
    """The value without the trailing padding of PS3.5 §6.2 (leading spaces are allowed
    by §6.2 for UI too, and are removed as pydicom does)."""
    return value.rstrip(_PADDING).lstrip(" ")


def check(value: str, keyword: str) -> str:
    """``value`` unpadded when it is a UID; :class:`InvalidUID` saying why otherwise."""
    uid = unpad(value)
    if is_valid(uid):
        return uid
    if not uid:
        raise InvalidUID(f"{keyword} is empty.")
    if len(uid) > MAX_LENGTH:
        raise InvalidUID(f"{keyword} is longer than {MAX_LENGTH} characters.")
    shown = uid[:MAX_LENGTH].encode("unicode_escape").decode("ascii")
    raise InvalidUID(
        f"{keyword} '{shown}' is not a UID: digits and periods only, no component empty or "
        "with a leading zero (DICOM PS3.5 9.1)."
    )
