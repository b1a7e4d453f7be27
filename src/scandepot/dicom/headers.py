"""What scandepot reads from an instance's header: the attributes it catalogues and routes by.

Only the header is parsed (up to the pixel data); the bytes on disk stay as received.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset
from pydicom.tag import Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from scandepot.dicom import uids
from scandepot.errors import Invalid

KEYWORDS = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "InstanceNumber",
    "Modality",
    "BodyPartExamined",
    "NumberOfFrames",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientComments",
    "StudyComments",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
    "MagneticFieldStrength",
    "StudyID",
    "SeriesDate",
    "SeriesTime",
    "Rows",
    "Columns",
    "BitsAllocated",
)
_TAGS: list[Any] = [Tag(k) for k in KEYWORDS]
_DEFLATED_OR_BIG = {DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian}


class NotDicom(Invalid):
    """The bytes are not a DICOM instance scandepot can file (a refusal, with the reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, field="dicom")


@dataclass(frozen=True, slots=True)
class Header:
    SOPClassUID: str
    SOPInstanceUID: str
    TransferSyntaxUID: str
    StudyInstanceUID: str
    SeriesInstanceUID: str
    SeriesNumber: int | None
    SeriesDescription: str | None
    InstanceNumber: int | None
    Modality: str | None
    BodyPartExamined: str | None
    NumberOfFrames: int | None
    PatientName: str | None
    PatientID: str | None
    PatientBirthDate: str | None
    PatientSex: str | None
    PatientComments: str | None
    StudyComments: str | None
    StudyDate: dt.date | None
    StudyTime: dt.time | None
    StudyDescription: str | None
    AccessionNumber: str | None
    ReferringPhysicianName: str | None
    InstitutionName: str | None
    Manufacturer: str | None
    ManufacturerModelName: str | None
    StationName: str | None
    MagneticFieldStrength: float | None
    StudyID: str | None = None
    SeriesDate: dt.date | None = None
    SeriesTime: dt.time | None = None
    Rows: int | None = None
    Columns: int | None = None
    BitsAllocated: int | None = None


def _text(ds: Any, keyword: str, limit: int) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    # NUL is no character of a text VR (PS3.5 §6.2), and no catalog column takes it.
    return str(value).replace("\x00", "").strip()[:limit] or None


# PS3.5 Table 6.2-1: an IS value lies in -2^31 .. 2^31 - 1. Anything outside (which a
# catalog column cannot hold either) is read as absent, like any other unreadable number.
_IS_RANGE = range(-(2**31), 2**31)


def _int(ds: Any, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        number = int(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is None or number in _IS_RANGE else None


def _float(ds: Any, keyword: str) -> float | None:
    value = ds.get(keyword)
    try:
        number = float(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is None or math.isfinite(number) else None


def _uid(ds: Any, keyword: str, *, required: bool) -> str:
    """A UID attribute checked against the UID grammar: these name spool files."""
    value = uids.unpad(str(ds.get(keyword) or ""))
    if not value:
        if required:
            raise NotDicom(f"The instance has no {keyword}.")
        return ""
    return _checked(value, keyword)


def _checked(value: str, keyword: str) -> str:
    try:
        return uids.check(value, keyword)
    except uids.InvalidUID as exc:
        raise NotDicom(str(exc)) from None


def _meta_uid(meta: Any, keyword: str) -> str:
    """A File Meta UID, checked like the data set's; empty when absent."""
    return _uid(meta, keyword, required=False) if meta is not None else ""


def _date(value: Any) -> dt.date | None:
    """A DA value (YYYYMMDD), or None when it is not a date."""
    text = str(value or "").strip()[:8]
    if len(text) < 8 or not (text.isascii() and text.isdigit()):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _time(value: Any) -> dt.time | None:
    """A TM value (HHMMSS.FFFFFF, or HHMM; ACR-NEMA's colons allowed) to the second."""
    digits = str(value or "").strip().replace(":", "").split(".")[0]
    part = digits[:6] if len(digits) >= 6 else digits[:4]
    if len(part) < 4 or not (part.isascii() and part.isdigit()):
        return None
    try:
        return dt.time(int(part[:2]), int(part[2:4]), int(part[4:6] or 0))
    except ValueError:
        return None


_PIXEL_DATA_LE = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian


def _stop_at_pixels(tag: Any, vr: Any, length: Any) -> bool:
    return bool(tag >= 0x7FE00010)


def read_header_bytes(head: bytes, transfer_syntax: str) -> Header | None:
    """Parse a data set header from its first bytes (no File Meta), or None when those
    bytes may not hold all of it (then read the file)."""
    if transfer_syntax in _DEFLATED_OR_BIG:
        return None
    implicit = transfer_syntax == ImplicitVRLittleEndian
    try:
        values = _scan(head, implicit)
    except _Unusual:
        values = None
    if values is not None:
        try:
            return _header(values, transfer_syntax)
        except NotDicom:
            pass  # pydicom has the last word before anything is refused
    if _PIXEL_DATA_LE not in head:
        return None
    try:
        ds = read_dataset(
            BytesIO(head),
            is_implicit_VR=implicit,
            is_little_endian=True,
            stop_when=_stop_at_pixels,
            specific_tags=_TAGS,
        )
        return _header(ds, transfer_syntax)
    except NotDicom:
        return None
    except Exception:  # noqa: BLE001 - fall back to reading the whole file
        return None


# -- a lean reader for the common case --------------------------------------------------
# pydicom's general reader costs most of a millisecond per header, more than everything
# else the receiver does per instance. The attributes above all sit in the first groups of
# a little endian data set, so :func:`_scan` walks its elements up to (0032,4000) and reads
# just those. Anything outside the plain case (a character set other than ASCII, Latin-1
# or UTF-8, a value with several values, a number pydicom would read more leniently, a
# header longer than the bytes at hand) makes it give up, and pydicom reads the header.


class _Unusual(Exception):
    pass


_WANTED: dict[int, tuple[str, str]] = {
    int(tag): (keyword, dictionary_VR(tag)) for keyword, tag in zip(KEYWORDS, _TAGS, strict=True)
}
_LAST_WANTED = max(_WANTED)
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"SV",
    b"UV",
}
_SINGLE_VALUED = {"LT", "ST", "UT"}  # a backslash is text in these, a separator elsewhere
_CHARSETS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_ELEMENT = struct.Struct("<HHI")
_EXPLICIT = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<I")
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD


class _Values(dict[str, Any]):
    """The values :func:`_header` reads, as pydicom would give them."""


def _element(head: bytes, offset: int, implicit: bool) -> tuple[int, bytes | None, int, int]:
    """(tag, VR or None, value length, value offset) of the element at ``offset``."""
    if offset + 8 > len(head):
        raise _Unusual("short")
    group, element, length = _ELEMENT.unpack_from(head, offset)
    tag = group << 16 | element
    if implicit or group == 0xFFFE:
        return tag, None, length, offset + 8
    _, _, vr, short = _EXPLICIT.unpack_from(head, offset)
    if not (vr.isalpha() and vr.isupper()):
        raise _Unusual("implicit VR under an explicit VR transfer syntax")
    if vr in _LONG_VRS:
        if offset + 12 > len(head):
            raise _Unusual("short")
        return tag, vr, _LONG_LENGTH.unpack_from(head, offset + 8)[0], offset + 12
    return tag, vr, short, offset + 8


def _skip_sequence(head: bytes, offset: int, implicit: bool) -> int:
    """The offset after an undefined-length value whose items start at ``offset``."""
    while True:
        tag, _, length, offset = _element(head, offset, True)
        if tag == _SEQUENCE_END:
            return offset
        if tag != _ITEM:
            raise _Unusual("not an item")
        if length != _UNDEFINED:
            offset += length
            continue
        while True:  # the item's elements, up to its delimiter
            tag, _, length, offset = _element(head, offset, implicit)
            if tag == _ITEM_END:
                break
            offset = (
                _skip_sequence(head, offset, implicit) if length == _UNDEFINED else offset + length
            )


def _scan(head: bytes, implicit: bool) -> _Values | None:
    raw: dict[int, bytes] = {}
    offset = 0
    while True:
        if offset >= len(head):
            return None  # the header goes on past the bytes at hand
        tag, vr, length, offset = _element(head, offset, implicit)
        if tag > _LAST_WANTED:
            break
        if length == _UNDEFINED:
            offset = _skip_sequence(head, offset, implicit)
            continue
        if tag in _WANTED:
            if vr is not None and vr.decode("latin-1") != _WANTED[tag][1]:
                raise _Unusual("VR")
            if offset + length > len(head):
                return None
            raw[tag] = head[offset : offset + length]
        offset += length
    charset = raw.pop(0x00080005, b"").decode("latin-1").strip(" \x00")
    encoding = _CHARSETS.get(charset)
    if encoding is None:
        raise _Unusual("character set")
    values = _Values()
    for tag, value in raw.items():
        keyword, kind = _WANTED[tag]
        if kind == "US":  # binary: one unsigned 16-bit value, little endian
            if len(value) != 2:
                raise _Unusual("US")
            values[keyword] = int.from_bytes(value, "little")
            continue
        try:
            text = value.decode("ascii" if kind == "UI" else encoding).rstrip(" \x00")
        except UnicodeDecodeError:
            raise _Unusual("undecodable value") from None
        if kind not in _SINGLE_VALUED and "\\" in text:
            raise _Unusual("several values")
        if kind == "IS" and text.strip():
            try:
                values[keyword] = int(text)
            except ValueError:
                raise _Unusual("IS") from None
        elif kind == "DS" and text.strip():
            try:
                values[keyword] = float(text)
            except ValueError:
                raise _Unusual("DS") from None
        else:
            values[keyword] = text.lstrip(" ") if kind not in _SINGLE_VALUED else text
    return values


_FILE_HEAD = 64 * 1024  # a Part 10 file's header almost always fits in its first bytes


def _part10(head: bytes) -> tuple[str, int] | None:
    """(Transfer Syntax UID, offset of the data set) of a Part 10 file's first bytes,
    from its File Meta Information (PS3.10 §7.1); None when unusual or not Part 10."""
    if len(head) < 144 or head[128:132] != b"DICM":
        return None
    syntax = None
    offset = 132
    try:
        while offset < len(head):
            tag, _vr, length, start = _element(head, offset, False)
            if tag >> 16 != 0x0002:
                break
            if length == _UNDEFINED:
                return None
            if tag == 0x00020010:
                syntax = head[start : start + length].decode("ascii").rstrip(" \x00")
            offset = start + length
    except (_Unusual, UnicodeDecodeError):
        return None
    return (syntax, offset) if syntax else None


def read_file_header(path: Path) -> Header:
    """:func:`read_header`, fast in the common case: the lean scan over the first bytes
    of a plain Part 10 file, and pydicom for anything else (it has the last word)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_FILE_HEAD)
    except OSError as exc:
        raise NotDicom(f"Not a readable DICOM instance: {exc}") from None
    found = _part10(head)
    if found is not None:
        syntax, offset = found
        header = read_header_bytes(head[offset:], syntax)
        if header is not None:
            return header
    return read_header(path)


def read_header(path: Path, *, transfer_syntax: str | None = None) -> Header:
    """Parse the header of a Part 10 file; :class:`NotDicom` says why one cannot be filed."""
    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=_TAGS)
    except (InvalidDicomError, EOFError, ValueError, KeyError, OSError) as exc:
        raise NotDicom(f"Not a readable DICOM instance: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on garbage
        raise NotDicom(f"Not a readable DICOM instance: {type(exc).__name__}") from None
    meta = getattr(ds, "file_meta", None)
    syntax = transfer_syntax or (str(meta.get("TransferSyntaxUID", "")) if meta else "")
    return _header(ds, syntax, meta)


def _header(ds: Any, syntax: str, meta: Any = None) -> Header:
    sop_class = _uid(ds, "SOPClassUID", required=False) or _meta_uid(
        meta, "MediaStorageSOPClassUID"
    )
    if not sop_class:
        raise NotDicom("The instance has no SOPClassUID.")
    syntax = uids.unpad(syntax)
    if syntax:
        syntax = _checked(syntax, "TransferSyntaxUID")
    try:
        return Header(
            SOPClassUID=sop_class,
            SOPInstanceUID=_uid(ds, "SOPInstanceUID", required=True),
            TransferSyntaxUID=syntax or "1.2.840.10008.1.2",
            StudyInstanceUID=_uid(ds, "StudyInstanceUID", required=True),
            SeriesInstanceUID=_uid(ds, "SeriesInstanceUID", required=True),
            SeriesNumber=_int(ds, "SeriesNumber"),
            SeriesDescription=_text(ds, "SeriesDescription", 64),
            InstanceNumber=_int(ds, "InstanceNumber"),
            Modality=_text(ds, "Modality", 16),
            BodyPartExamined=_text(ds, "BodyPartExamined", 16),
            NumberOfFrames=_int(ds, "NumberOfFrames"),
            PatientName=_text(ds, "PatientName", 324),
            PatientID=_text(ds, "PatientID", 64),
            PatientBirthDate=_text(ds, "PatientBirthDate", 8),
            PatientSex=_text(ds, "PatientSex", 16),
            PatientComments=_text(ds, "PatientComments", 10240),
            StudyComments=_text(ds, "StudyComments", 10240),
            StudyDate=_date(ds.get("StudyDate")),
            StudyTime=_time(ds.get("StudyTime")),
            StudyDescription=_text(ds, "StudyDescription", 64),
            AccessionNumber=_text(ds, "AccessionNumber", 16),
            ReferringPhysicianName=_text(ds, "ReferringPhysicianName", 324),
            InstitutionName=_text(ds, "InstitutionName", 64),
            Manufacturer=_text(ds, "Manufacturer", 64),
            ManufacturerModelName=_text(ds, "ManufacturerModelName", 64),
            StationName=_text(ds, "StationName", 16),
            MagneticFieldStrength=_float(ds, "MagneticFieldStrength"),
            StudyID=_text(ds, "StudyID", 16),
            SeriesDate=_date(ds.get("SeriesDate")),
            SeriesTime=_time(ds.get("SeriesTime")),
            Rows=_int(ds, "Rows"),
            Columns=_int(ds, "Columns"),
            BitsAllocated=_int(ds, "BitsAllocated"),
        )
    except NotDicom:
        raise
    except Exception as exc:  # noqa: BLE001 - a value pydicom cannot decode
        raise NotDicom(f"Unreadable header value: {type(exc).__name__}: {exc}") from None
