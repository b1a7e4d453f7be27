"""Byte ranges of a body whose length is known (RFC 9110 §14): one range a request.

``bytes=first-last``, ``bytes=first-`` and ``bytes=-suffix`` are served as 206 with
``Content-Range``; a Range that is malformed, names several ranges, another unit, or
begins past the end is answered 416 with ``Content-Range: bytes */{length}`` (§15.5.17),
so that a client that asked for a part never takes the whole for it.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException

_ONE = re.compile(r"^bytes=(\d*)-(\d*)$")


def not_satisfiable(length: int, why: str) -> HTTPException:
    return HTTPException(416, detail=why, headers={"content-range": f"bytes */{length}"})


def span(header: str | None, length: int) -> tuple[int, int] | None:
    """The bytes ``(start, stop)`` (stop exclusive) that ``header`` asks of a body of
    ``length`` bytes, or None for the whole body (no Range)."""
    if header is None:
        return None
    found = _ONE.fullmatch(header.strip().replace(" ", ""))
    if found is None:
        raise not_satisfiable(length, f"Range '{header[:80]}': one 'bytes=first-last' range only.")
    first, last = found.groups()
    if not first and not last:
        raise not_satisfiable(length, "Range 'bytes=-': give a first byte or a suffix length.")
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise not_satisfiable(length, "Range of the last 0 bytes.")
        return max(length - suffix, 0), length
    start = int(first)
    stop = length if not last else min(int(last) + 1, length)
    if start >= length or (last and int(last) < start):
        raise not_satisfiable(length, f"Range '{header[:80]}' is outside the {length} bytes.")
    return start, stop


def content_range(start: int, stop: int, length: int) -> str:
    return f"bytes {start}-{stop - 1}/{length}"
