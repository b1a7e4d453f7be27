"""The profile's plain actions on top-level elements as bytes, for :mod:`deid.fast`: an
empty value (Z), a dummy of a text VR (D), a UID remapped (U, or D on a UID), the
patient's pseudonyms. Each gives the bytes :mod:`deid.profile` would have pydicom write;
anything else (C, sequences, numbers, text beyond ASCII) is left to pydicom.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scandepot.deid import actions
from scandepot.deid.elements import Span
from scandepot.deid.fastseq import header, remap_uids
from scandepot.deid.model import Keys
from scandepot.deid.profile import PATIENT_ID, PATIENT_NAME, Profile

SOP_INSTANCE_UID = 0x00080018


@dataclass(slots=True)
class Made:
    elements: dict[int, bytes] = field(default_factory=dict)  # tag -> the element encoded
    values: list[tuple[str, Span, bytes]] = field(default_factory=list)  # for the check
    sop_instance_uid: str | None = None  # the new one, for the file meta


def act(
    profile: Profile, keys: Keys, data: bytes, spans: list[Span], implicit: bool, patient: str
) -> tuple[Made, list[Span]]:
    """The plain actions done, and the spans left for pydicom."""
    made, left = Made(), []
    new_id = actions.patient_pseudonym(keys, patient)
    for span in spans:
        found = profile.table.of(span.tag)
        encoded = None if found is None else _one(span, data, found[0], keys, new_id, implicit)
        if encoded is None:
            left.append(span)
            continue
        made.elements[span.tag] = encoded
        value = encoded[8:] if implicit or span.vr not in _LONG_OUT else encoded[12:]
        made.values.append(("", span, value))
        if span.tag == SOP_INSTANCE_UID:
            made.sop_instance_uid = value.rstrip(b"\0").decode()
    return made, left


_LONG_OUT = frozenset({b"UC", b"UR", b"UT"})


def _one(
    span: Span, data: bytes, action: str, keys: Keys, new_id: str, implicit: bool
) -> bytes | None:
    vr = span.vr
    if vr in (b"SQ", b"UN") or action not in ("Z", "D", "U"):
        return None
    if span.tag in (PATIENT_ID, PATIENT_NAME):
        if span.tag == PATIENT_ID:
            return _text(span.tag, b"LO", new_id, implicit)
        name = data[span.value : span.end].decode("latin-1").strip(" \0")
        return _text(span.tag, b"PN", actions.name_pseudonym(keys, name, new_id), implicit)
    if action == "Z":
        return header(span.tag, vr, 0, implicit)
    if vr == b"UI":
        if action == "U":
            return remap_uids(span, data, keys, implicit)
        text = data[span.value : span.end].decode("ascii", "replace").strip("\0 ")
        if "\\" in text:
            return None
        return _text(span.tag, vr, keys.uid(text) if text else "2.25.0", implicit)
    dummy = actions.DUMMY.get(vr.decode())
    if action == "D" and isinstance(dummy, str):
        return _text(span.tag, vr, dummy, implicit)
    return None


def _text(tag: int, vr: bytes, value: str, implicit: bool) -> bytes | None:
    """A text value as pydicom writes it: ASCII, padded to even length (NUL for UI)."""
    if not value.isascii():
        return None
    encoded = value.encode()
    if len(encoded) % 2:
        encoded += b"\0" if vr == b"UI" else b" "
    return header(tag, vr, len(encoded), implicit) + encoded
