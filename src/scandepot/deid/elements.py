"""DICOM elements as bytes (PS3.5 7.1): where each top-level element of a dataset in
little endian starts and ends, explicit or implicit VR, sequences and encapsulated pixel
data skipped over item by item, nothing decoded."""

from __future__ import annotations

import struct
from functools import cache
from typing import NamedTuple

from pydicom.datadict import dictionary_VR

# Explicit VR with a 4-byte length (PS3.5 7.1.2).
LONG = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_HEAD = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<I")


class Unsupported(Exception):
    """Not a file this way takes: the engine reads it whole instead."""


class Span(NamedTuple):  # a tuple: made for every element, which a dataclass slows
    tag: int
    vr: bytes
    start: int  # of the element's header
    value: int  # of its value
    end: int  # after its value (and its delimiter)


def element(data: bytes, pos: int, implicit: bool) -> Span:
    if implicit:
        return _implicit(data, pos)
    group, elem, vr, short = _HEAD.unpack_from(data, pos)
    tag = group << 16 | elem
    if group == 0xFFFE:
        raise Unsupported(f"item tag at {pos}")
    if vr in LONG:
        (length,) = _LONG_LENGTH.unpack_from(data, pos + 8)
        value = pos + 12
    elif vr.isalpha() and vr.isupper():
        length, value = short, pos + 8
    else:
        raise Unsupported(f"not explicit VR at {pos}")
    if length != UNDEFINED:
        end = value + length
    elif vr in (b"SQ", b"OB", b"OW"):  # a sequence, or encapsulated pixel data
        end = sequence_end(data, value, False)
    else:
        raise Unsupported(f"undefined length {vr!r} at {pos}")
    if end > len(data):
        raise Unsupported(f"element at {pos} runs past the end")
    return Span(tag, vr, pos, value, end)


def _implicit(data: bytes, pos: int) -> Span:
    """Implicit VR (PS3.5 7.1.3): the VR is the dictionary's; an undefined length is a
    sequence's."""
    tag, length = tag_length(data, pos)
    if tag >> 16 == 0xFFFE:
        raise Unsupported(f"item tag at {pos}")
    if length == UNDEFINED:
        return Span(tag, b"SQ", pos, pos + 8, sequence_end(data, pos + 8, True))
    if pos + 8 + length > len(data):
        raise Unsupported(f"element at {pos} runs past the end")
    return Span(tag, _dictionary_vr(tag), pos, pos + 8, pos + 8 + length)


@cache
def _dictionary_vr(tag: int) -> bytes:
    try:
        return str(dictionary_VR(tag)).split(" or ")[0].encode()
    except KeyError:
        return b"UN"


def sequence_end(data: bytes, pos: int, implicit: bool) -> int:
    """After the sequence delimiter of the items starting at ``pos``."""
    while True:
        tag, length = tag_length(data, pos)
        if tag == SEQUENCE_END:
            return pos + 8
        if tag != ITEM:
            raise Unsupported(f"no item at {pos}")
        pos = item_end(data, pos + 8, implicit) if length == UNDEFINED else pos + 8 + length


def item_end(data: bytes, pos: int, implicit: bool) -> int:
    while True:
        tag, _ = tag_length(data, pos)
        if tag == ITEM_END:
            return pos + 8
        pos = element(data, pos, implicit).end


def tag_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos + 8 > len(data):
        raise Unsupported("truncated")
    group, elem, length = struct.unpack_from("<HHI", data, pos)
    return group << 16 | elem, length
