"""The confidentiality profile on a file's bytes: the same result as reading the whole
file with pydicom, applying the profile and writing it, in a fraction of the time.

A file in explicit VR little endian (native or encapsulated pixel data) is split into
its top-level elements without decoding them. Those the table removes (X) are dropped;
those it keeps (K, or not listed, and not a sequence) are copied as stored, the pixel
data among them; only the rest (and what the verification reads first: names, IDs,
dates, descriptors, the character set) is decoded by pydicom into a small dataset, to
which :class:`profile.Profile` applies exactly as to a whole one. The output is the small
dataset's elements, encoded by pydicom, merged in tag order with the copied bytes.

Anything else (another transfer syntax, an odd structure) raises :class:`Unsupported`,
and the engine takes the ordinary way. This module keeps pydicom's private ``_dict`` in
one place (the copied elements join the result's dataset as raw elements).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO

from pydicom import Dataset, config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import UID

from scandepot.deid import fastact, fastseq, verify
from scandepot.deid.elements import LONG, UNDEFINED, Span, Unsupported, element
from scandepot.deid.model import Run
from scandepot.deid.profile import Profile

EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
CHARSET = 0x00080005
MEDIA_SOP_INSTANCE = 0x00020003
PIXEL_DATA = 0x7FE00010
TRANSFER_SYNTAX = 0x00020010
# Decoded always: the verification's "before" reads them, and the character set.
READ_FIRST = frozenset(
    {CHARSET, *verify.IDENTIFYING, *verify.DATES, *verify.DESCRIPTORS, *verify.PERSON_SEQUENCES}
)
PLAIN_CHARSETS = (b"", b"ISO_IR 6", b"ISO_IR 100", b"ISO_IR 192")
# Values encoded here when plain ASCII (PS3.5 6.2): padded to even length as pydicom does.
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
BYTES_VRS = frozenset({"OB", "OW", "UN"})
# Meta elements pydicom adds when missing: without one, pydicom writes the meta.
REQUIRED_META = (0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013)
_LONG_LENGTH = struct.Struct("<I")


def _meta(data: bytes) -> tuple[FileMetaDataset, int, bool]:
    """The file meta information, where the dataset starts, and whether its VR is
    implicit."""
    if data[128:132] != b"DICM" or data[132:136] != b"\x02\x00\x00\x00":
        raise Unsupported("no preamble or no group length")
    (length,) = _LONG_LENGTH.unpack_from(data, 140)
    end = 144 + length
    # Its elements as pydicom reads them (raw, decoded on use), without its reader.
    meta, pos, view = FileMetaDataset(), 132, memoryview(data)
    while pos < end:
        span = element(data, pos, False)
        if span.tag >> 16 != 2:
            raise Unsupported("file meta")
        meta._dict[BaseTag(span.tag)] = _raw(span, view, False)
        pos = span.end
    if pos != end:
        raise Unsupported("file meta length")
    found = meta._dict.get(BaseTag(TRANSFER_SYNTAX))
    if not isinstance(found, RawDataElement) or not isinstance(found.value, bytes):
        raise Unsupported("no transfer syntax")
    text = found.value.decode("latin-1").rstrip("\0 ")  # as pydicom decodes a UI value
    if "\\" in text:
        raise Unsupported("transfer syntax")
    syntax = UID(text)
    if not syntax.is_little_endian or syntax == DEFLATED:
        raise Unsupported(f"transfer syntax {syntax}")
    meta._dict[BaseTag(TRANSFER_SYNTAX)] = _element(TRANSFER_SYNTAX, "UI", syntax)
    return meta, end, syntax.is_implicit_VR


def _element(tag: int, vr: str, value: object) -> DataElement:
    """A value decoded or made here, valid by construction: not validated again."""
    return DataElement(tag, vr, value, validation_mode=config.IGNORE)


def split(data: bytes) -> tuple[FileMetaDataset, list[Span], bool]:
    """The file meta, the dataset's top-level elements, and whether its VR is implicit."""
    meta, pos, implicit = _meta(data)
    spans = []
    while pos < len(data):
        span = element(data, pos, implicit)
        spans.append(span)
        pos = span.end
    return meta, spans, implicit


@dataclass(slots=True)
class Done:
    dataset: Dataset  # the result: decoded elements and copied raw ones, not the pixel data
    report: verify.Report
    chunks: list[bytes | memoryview]  # the file to write, in order


def deidentify(profile: Profile, run: Run, data: bytes) -> Done:
    """The profile on ``data`` (a whole file); :class:`Unsupported` to go the other way."""
    try:
        meta, spans, implicit = split(data)
    except (struct.error, ValueError, EOFError) as exc:
        raise Unsupported(str(exc)) from exc
    view = memoryview(data)
    decode, copied, sequences = _sort(profile, data, spans)
    rewritten, left, nested = _sequences(profile, run, data, sequences, implicit)
    before = verify.identifiers(_raw_dataset(decode, view, implicit))
    made, rest = fastact.act(profile, run.keys, data, decode, implicit, before.patient_id)
    rest = sorted(rest + left, key=lambda span: span.tag)
    ds = read_dataset(BytesIO(b"".join(view[s.start : s.end] for s in rest)), implicit, True)
    ds.file_meta = meta
    ds.set_original_encoding(implicit, True, ds.get("SpecificCharacterSet", "iso8859"))
    profile.apply(ds, run, before=before)
    if made.sop_instance_uid is not None:
        uid = UID(made.sop_instance_uid)
        meta._dict[BaseTag(MEDIA_SOP_INSTANCE)] = _element(MEDIA_SOP_INSTANCE, "UI", uid)
    report = verify.check(before, ds, profile.kept, rules=profile.verify_rules())
    inside = [
        (p, s, data[s.value : s.end])
        for p, s in [("", c) for c in copied] + nested.copied
        if s.tag not in profile.kept and s.vr not in _SKIP  # the pixel data is not sliced
    ]
    report.findings += _check_copied(before, inside + made.values, profile)
    chunks = _encode(ds, copied, view, implicit, rewritten | made.elements)
    return Done(ds, report, chunks)


def _raw_dataset(spans: list[Span], view: memoryview, implicit: bool) -> Dataset:
    """The elements the verification reads first, undecoded (pydicom decodes on use)."""
    ds = Dataset()
    for span in spans:
        if span.tag in READ_FIRST:
            ds._dict[BaseTag(span.tag)] = _raw(span, view, implicit)
    charset = ds.get("SpecificCharacterSet", "iso8859")
    ds.set_original_encoding(implicit, True, charset)
    return ds


def _sort(
    profile: Profile, data: bytes, spans: list[Span]
) -> tuple[list[Span], list[Span], list[Span]]:
    """Which elements pydicom decodes, which are copied, which sequences may be rewritten
    as bytes; the dropped ones in none."""
    decode: list[Span] = []
    copied: list[Span] = []
    sequences: list[Span] = []
    for span in spans:
        tag = span.tag
        if not tag & 0xFFFF:
            continue  # a group length (retired): wrong once elements go, as the profile drops
        if tag in READ_FIRST:
            decode.append(span)
            continue
        found = profile.table.of(tag)
        action = found[0] if found is not None else None
        if span.vr == b"SQ" and action in (None, "R", "D", "C", "U"):
            sequences.append(span)
        elif action is None:
            (decode if span.vr == b"UN" else copied).append(span)
        elif action == "K":  # a kept sequence is decoded: the verification looks inside
            (decode if span.vr in (b"SQ", b"UN") else copied).append(span)
        elif action != "X":
            decode.append(span)
        # X: dropped, as the profile would
    charset = next((s for s in decode if s.tag == CHARSET), None)
    if charset is not None and data[charset.value : charset.end].strip(b" \0") not in (
        PLAIN_CHARSETS
    ):
        raise Unsupported("character set")
    return decode, copied, sequences


def _sequences(
    profile: Profile, run: Run, data: bytes, spans: list[Span], implicit: bool
) -> tuple[dict[int, bytes], list[Span], fastseq.Rewrite]:
    """The sequences rewritten as bytes, and those left for pydicom."""
    done: dict[int, bytes] = {}
    left: list[Span] = []
    out = fastseq.Rewrite()
    for span in spans:
        mark = len(out.copied)
        try:
            done[span.tag] = fastseq.sequence(span, data, profile.table, run.keys, implicit, out)
        except fastseq.Fallback:
            del out.copied[mark:]
            left.append(span)
    return done, left, out


def _check_copied(
    before: verify.Identifiers, copied: list[tuple[str, Span, bytes]], profile: Profile
) -> list[verify.Finding]:
    """What :func:`verify.check` would find in the copied elements (top level and inside
    rewritten sequences): the same test on each value, only where one blob of them all
    holds a word worth a look."""
    texts = [(p, s, v) for p, s, v in copied if s.tag not in profile.kept and s.vr not in _SKIP]
    blob = b"\0".join(value for _, _, value in texts)
    low = blob.decode("latin-1").lower()  # as verify reads a raw value: the same bytes match
    needles = before.values | before.parts | before.dates | before.texts
    if not any(needle in low for needle in needles):
        return []
    findings = []
    for where, span, value in texts:
        text = value.decode("latin-1").strip(" \0")
        reason = verify.value_reason(text, before, span.vr.decode(), profile.verify_rules())
        if reason is not None:
            path = f"{where}({span.tag >> 16:04X},{span.tag & 0xFFFF:04X})"
            findings.append(verify.Finding(path, verify.keyword(span.tag), reason))
    return findings


_SKIP = frozenset(v.encode() for v in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", *verify.NUMBERS))


def _encode(
    ds: Dataset,
    copied: list[Span],
    view: memoryview,
    implicit: bool,
    rewritten: dict[int, bytes],
) -> list[bytes | memoryview]:
    """The file: preamble, meta, then every element in tag order, decoded ones encoded
    here (or by pydicom when not plain) and copied ones as stored; the copied join ``ds``
    as raw elements, all but the pixel data."""
    chunks: list[bytes | memoryview] = [b"\0" * 128 + b"DICM" + _meta_bytes(ds.file_meta)]
    encoded: dict[int, bytes] = {}
    encodings = ds.get("SpecificCharacterSet", "iso8859")
    for tag in ds.keys():
        elem = ds.get_item(tag)
        plain = _plain(tag, elem, implicit)
        if plain is None and tag == METHOD_CODES:  # the same for every instance
            key = (implicit, tuple(item.CodeValue for item in elem.value))
            plain = _CODES.get(key)
            if plain is None:
                plain = _CODES[key] = _pydicom(elem, encodings, implicit)
        if plain is None:
            plain = _pydicom(elem, encodings, implicit)
        encoded[int(tag)] = plain  # plain ints: BaseTag sorts slowly
    # What the profile wrote wins over a copy (Patient Identity Removed "NO" before).
    stored = {span.tag: span for span in copied if span.tag not in encoded}
    for span in stored.values():
        if span.tag != PIXEL_DATA:  # without it, as the engine's Result says: not copied
            ds._dict[BaseTag(span.tag)] = _raw(span, view, implicit)
    for number, element_bytes in rewritten.items():
        encoded[number] = element_bytes
        ds._dict[BaseTag(number)] = _raw_encoded(number, element_bytes, implicit)
    for number in sorted(encoded.keys() | stored.keys()):
        found = stored.get(number)
        chunks.append(encoded[number] if found is None else view[found.start : found.end])
    return chunks


def _pydicom(
    elem: DataElement | RawDataElement, encodings: str | list[str] | None, implicit: bool
) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_data_element(fp, elem, encodings)
    return fp.getvalue()


METHOD_CODES = 0x00120064  # De-identification Method Code Sequence
_CODES: dict[tuple[bool, tuple[str, ...]], bytes] = {}


def _meta_bytes(meta: FileMetaDataset) -> bytes:
    """Group 2 with its group length, as pydicom writes it when nothing is missing."""
    if any(tag not in meta for tag in REQUIRED_META):
        fp = DicomBytesIO()
        write_file_meta_info(fp, meta, enforce_standard=True)
        return fp.getvalue()
    parts = []
    for tag in meta.keys():
        if tag != 0x00020000:
            plain = _plain(tag, meta.get_item(tag), False)
            if plain is None:
                fp = DicomBytesIO()
                fp.is_little_endian, fp.is_implicit_VR = True, False
                write_data_element(fp, meta[tag])
                plain = fp.getvalue()
            parts.append(plain)
    body = b"".join(parts)
    return struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(body)) + body


def _plain(tag: int, elem: DataElement | RawDataElement | None, implicit: bool) -> bytes | None:
    """An element of plain text, bytes or none encoded here; None for pydicom to do it
    (sequences, numbers, text beyond ASCII)."""
    if elem is None or elem.VR is None or elem.VR == "SQ":
        return None
    vr: str = elem.VR
    value = elem.value
    if implicit and isinstance(elem, RawDataElement):
        return None  # its VR is not known here: pydicom's dictionary decides
    if isinstance(elem, RawDataElement):
        if elem.length == UNDEFINED or not isinstance(value, bytes):
            return None
        encoded = value
    elif value is None or value == "":
        encoded = b""
    elif vr in TEXT_VRS and isinstance(value, str):
        if not value.isascii():
            return None  # beyond ASCII: the character set decides, pydicom encodes
        encoded = value.encode("ascii")
    elif vr in TEXT_VRS and isinstance(value, MultiValue | list):
        text = "\\".join(value) if all(isinstance(v, str) for v in value) else "\x80"
        if not text.isascii():
            return None
        encoded = text.encode("ascii")
    elif vr in BYTES_VRS and isinstance(value, bytes):
        encoded = value
    else:
        return None
    if len(encoded) % 2:
        encoded += b"\0" if vr in ("UI", "OB", "UN") else b" "
    size = len(encoded)
    if implicit:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, size) + encoded
    if vr.encode() in LONG:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, size) + encoded
    if size > 0xFFFF:
        return None
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), size) + encoded


def _raw(span: Span, view: memoryview, implicit: bool) -> RawDataElement:
    """A copied element as pydicom reads one (an undefined length keeps its items, not
    its sequence delimiter; implicit VR leaves the VR to the dictionary)."""
    long = implicit or span.vr in LONG
    (length,) = _LONG_LENGTH.unpack_from(view, span.value - 4) if long else (0,)
    end = span.end - 8 if length == UNDEFINED else span.end
    if not long:
        length = span.end - span.value
    value = bytes(view[span.value : end])
    vr = None if implicit else span.vr.decode()
    return RawDataElement(BaseTag(span.tag), vr, length, value, span.value, implicit, True)


def _raw_encoded(tag: int, encoded: bytes, implicit: bool) -> RawDataElement:
    """An element encoded here, as pydicom would read it from its bytes."""
    if implicit:
        vr, (length,), start = None, _LONG_LENGTH.unpack_from(encoded, 4), 8
    elif encoded[4:6] in LONG:
        vr, (length,), start = encoded[4:6].decode(), _LONG_LENGTH.unpack_from(encoded, 8), 12
    else:
        vr, (length,), start = encoded[4:6].decode(), struct.unpack_from("<H", encoded, 6), 8
    value = encoded[start:-8] if length == UNDEFINED else encoded[start:]
    return RawDataElement(BaseTag(tag), vr, length, value, 0, implicit, True)
