"""Sequences rewritten as bytes for :mod:`scandepot.deid.fast`: the references that fill
Siemens headers (Referenced Image Sequence, Source Image Sequence: dozens of items, each
a class UID kept and an instance UID replaced) cost more through pydicom than the rest of
the instance.

Inside the items each element gets the profile's action where it is a plain one: X and
private attributes dropped, K and unlisted elements copied, U on a UID replaced, nested
sequences the same way. Anything else (a Z, a D, a C on text, the patient's name or ID)
returns None and the whole top-level sequence goes through pydicom instead. Lengths are
written as pydicom writes them: undefined where the original was, recomputed otherwise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from scandepot.deid.elements import (
    ITEM,
    LONG,
    SEQUENCE_END,
    UNDEFINED,
    Span,
    element,
    item_end,
    tag_length,
)
from scandepot.deid.model import Keys
from scandepot.deid.table import Actions

PATIENT = frozenset({0x00100010, 0x00100020})


class Fallback(Exception):
    """Not plain: pydicom does this sequence."""


@dataclass(slots=True)
class Rewrite:
    """Where the values copied inside sequences are, for the verification."""

    copied: list[tuple[str, Span]] = field(default_factory=list)  # (path in, element)


def header(tag: int, vr: bytes, length: int, implicit: bool) -> bytes:
    group, elem = tag >> 16, tag & 0xFFFF
    if implicit:
        return struct.pack("<HHI", group, elem, length)
    if vr in LONG:
        return struct.pack("<HH2sHI", group, elem, vr, 0, length)
    return struct.pack("<HH2sH", group, elem, vr, length)


def sequence(
    span: Span,
    data: bytes,
    table: Actions,
    keys: Keys,
    implicit: bool,
    out: Rewrite,
    prefix: str = "",
) -> bytes:
    """The sequence element ``span`` (a :class:`fast.Span`) rewritten; :class:`Fallback`
    when an element inside needs more than a plain action."""
    path = f"{prefix}({span.tag >> 16:04X},{span.tag & 0xFFFF:04X})"
    undefined = _length_field(data, span, implicit) == UNDEFINED
    items, pos, index = [], span.value, 0
    while pos < span.end:
        tag, length = tag_length(data, pos)
        if tag == SEQUENCE_END:
            break
        if tag != ITEM:
            raise Fallback
        item_undefined = length == UNDEFINED
        end = item_end(data, pos + 8, implicit) if item_undefined else pos + 8 + length
        inner_end = end - 8 if item_undefined else end
        body = _item(data, pos + 8, inner_end, table, keys, implicit, out, f"{path}[{index}]>")
        length_field = UNDEFINED if item_undefined else len(body)
        items.append(struct.pack("<HHI", 0xFFFE, 0xE000, length_field) + body)
        if item_undefined:
            items.append(struct.pack("<HHI", 0xFFFE, 0xE00D, 0))
        pos, index = end, index + 1
    content = b"".join(items)
    if undefined:
        content += struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return header(span.tag, b"SQ", UNDEFINED if undefined else len(content), implicit) + content


def _length_field(data: bytes, span: Span, implicit: bool) -> int:
    """The length as stored (4 bytes before the value in both encodings of a SQ)."""
    (length,) = struct.unpack_from("<I", data, span.value - 4)
    return int(length)


def _item(
    data: bytes,
    pos: int,
    end: int,
    table: Actions,
    keys: Keys,
    implicit: bool,
    out: Rewrite,
    path: str,
) -> bytes:
    parts = []
    while pos < end:
        span = element(data, pos, implicit)
        pos = span.end
        tag = span.tag
        if not tag & 0xFFFF:
            continue  # a group length, as the profile drops
        if tag in PATIENT:
            raise Fallback
        found = table.of(tag)
        action = found[0] if found is not None else None
        if action == "X" or (found is not None and found[1] == "RetainSafePrivate"):
            continue
        if span.vr == b"SQ" and action in (None, "R", "D", "C", "U"):
            parts.append(sequence(span, data, table, keys, implicit, out, path))
        elif span.vr in (b"SQ", b"UN") and action is not None:
            raise Fallback  # a kept sequence: the verification looks inside it
        elif action is None or action == "K":
            parts.append(data[span.start : span.end])
            out.copied.append((path, span))
        elif action == "U" and span.vr == b"UI":
            parts.append(remap_uids(span, data, keys, implicit))
        else:
            raise Fallback
    return b"".join(parts)


def remap_uids(span: Span, data: bytes, keys: Keys, implicit: bool) -> bytes:
    """U on one UI element: each value remapped, padded with a NUL as pydicom does."""
    raw = data[span.value : span.end]
    text = raw.decode("ascii").strip("\0 ")
    if not text:
        return data[span.start : span.end]
    value = "\\".join(keys.uid(v) for v in text.split("\\")).encode()
    if len(value) % 2:
        value += b"\0"
    return header(span.tag, b"UI", len(value), implicit) + value
