"""What scandepot reads from an instance's header: the attributes it catalogues and routes by.

Only the header is parsed (up to the pixel data); the bytes on disk stay as received.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset
from pydicom.tag import Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

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


def _text(ds: Any, keyword: str, limit: int) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip()[:limit] or None


def _int(ds: Any, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _float(ds: Any, keyword: str) -> float | None:
    value = ds.get(keyword)
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _uid(ds: Any, keyword: str, *, required: bool) -> str:
    value = str(ds.get(keyword) or "").strip().rstrip("\x00")
    if not value:
        if required:
            raise NotDicom(f"The instance has no {keyword}.")
        return ""
    if len(value) > 64:
        raise NotDicom(f"{keyword} is longer than 64 characters.")
    return value


def _date(value: Any) -> dt.date | None:
    text = str(value or "").strip()
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


def _time(value: Any) -> dt.time | None:
    text = str(value or "").strip().replace(":", "")
    digits = text.split(".")[0]
    try:
        if len(digits) >= 6:
            return dt.datetime.strptime(digits[:6], "%H%M%S").time()
        if len(digits) >= 4:
            return dt.datetime.strptime(digits[:4], "%H%M").time()
    except ValueError:
        return None
    return None


_PIXEL_DATA_LE = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian


def _stop_at_pixels(tag: Any, vr: Any, length: Any) -> bool:
    return bool(tag >= 0x7FE00010)


def read_header_bytes(head: bytes, transfer_syntax: str) -> Header | None:
    """Parse a data set header from its first bytes (no File Meta), or None when those
    bytes may not hold all of it (then read the file)."""
    if transfer_syntax in _DEFLATED_OR_BIG or _PIXEL_DATA_LE not in head:
        return None
    try:
        ds = read_dataset(
            BytesIO(head),
            is_implicit_VR=transfer_syntax == ImplicitVRLittleEndian,
            is_little_endian=True,
            stop_when=_stop_at_pixels,
            specific_tags=_TAGS,
        )
        return _header(ds, transfer_syntax)
    except NotDicom:
        return None
    except Exception:  # noqa: BLE001 - fall back to reading the whole file
        return None


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
    sop_class = _uid(ds, "SOPClassUID", required=False) or (
        str(meta.get("MediaStorageSOPClassUID", "")) if meta else ""
    )
    if not sop_class:
        raise NotDicom("The instance has no SOPClassUID.")
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
        )
    except NotDicom:
        raise
    except Exception as exc:  # noqa: BLE001 - a value pydicom cannot decode
        raise NotDicom(f"Unreadable header value: {type(exc).__name__}: {exc}") from None
