"""The lean header scan of the receiver's hot path reads what pydicom reads, and leaves to
pydicom what it does not know."""

from __future__ import annotations

import warnings
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from scandepot.dicom import headers
from scandepot.dicom.synthetic import Series, Study, mr_instance


def _data_set(path: Path) -> tuple[bytes, str] | None:
    raw = path.read_bytes()
    if raw[128:132] != b"DICM":
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            meta = dcmread(path, stop_before_pixels=True).file_meta
        except Exception:  # noqa: BLE001 - not a file for this comparison
            return None
    syntax = meta.get("TransferSyntaxUID")
    if syntax is None:
        return None
    length = int.from_bytes(raw[140:144], "little")
    return raw[144 + length :], str(syntax)


def _by_pydicom(body: bytes, syntax: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = read_dataset(
                BytesIO(body),
                is_implicit_VR=syntax == headers.ImplicitVRLittleEndian,
                is_little_endian=True,
                stop_when=headers._stop_at_pixels,
                specific_tags=headers._TAGS,
            )
            return headers._header(ds, syntax)
        except Exception as exc:  # noqa: BLE001 - compared as such
            return type(exc)


def test_the_lean_scan_reads_what_pydicom_reads(tmp_path: Path) -> None:
    paths = sorted(Path(get_testdata_file("CT_small.dcm")).parent.rglob("*.dcm"))  # type: ignore[arg-type]
    for n, kwargs in enumerate(
        [
            {},
            {"PatientComments": "Project: P Subject: S Session: E"},
            {"PatientName": "Müller^Jürgen"},
        ]
    ):
        ds = mr_instance(Study(**kwargs), Series(), 1, rows=8, columns=8)
        if n == 2:
            ds.SpecificCharacterSet = "ISO_IR 192"
        ds.save_as(tmp_path / f"{n}.dcm", enforce_file_format=True)
        paths.append(tmp_path / f"{n}.dcm")
    scanned = 0
    for path in paths:
        found = _data_set(path)
        if found is None or found[1] in headers._DEFLATED_OR_BIG:
            continue
        body, syntax = found
        try:
            values = headers._scan(
                body[: headers_bytes()], syntax == headers.ImplicitVRLittleEndian
            )
        except headers._Unusual:
            continue
        if values is None:
            continue
        scanned += 1
        try:
            lean: Any = headers._header(values, syntax)
        except Exception as exc:  # noqa: BLE001 - compared as such
            lean = type(exc)
        assert lean == _by_pydicom(body, syntax), path
    assert scanned >= 60


def headers_bytes() -> int:
    from scandepot.dimse import HEAD_BYTES

    return HEAD_BYTES


def test_the_lean_scan_gives_up_on_what_it_does_not_know() -> None:
    ds = mr_instance(Study(), Series(), 1, rows=8, columns=8)
    ds.SpecificCharacterSet = "ISO_IR 144"  # Cyrillic: left to pydicom
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    raw = buffer.getvalue()
    body = raw[144 + int.from_bytes(raw[140:144], "little") :]
    with pytest.raises(headers._Unusual):
        headers._scan(body, False)
    # More header than bytes at hand: the receiver reads the file instead.
    assert headers.read_header_bytes(body[:200], str(ds.file_meta.TransferSyntaxUID)) is None
    # The receiver's entry point falls back to pydicom and still reads it.
    header = headers.read_header_bytes(body, str(ds.file_meta.TransferSyntaxUID))
    assert header is not None and header.SOPInstanceUID == ds.SOPInstanceUID


def test_what_the_lean_scan_would_refuse_goes_to_pydicom() -> None:
    """Elements out of order: the scan stops at the first one past (0032,4000) and misses
    the SOP Instance UID after it; pydicom, reading on, finds it."""
    ds = mr_instance(Study(), Series(), 1, rows=8, columns=8)
    ds.PerformedProcedureStepDescription = "after (0032,4000)"  # (0040,0254)
    uid = ds.SOPInstanceUID
    pixels = ds.PixelData
    del ds.SOPInstanceUID, ds.PixelData
    syntax = str(ds.file_meta.TransferSyntaxUID)
    body = DicomBytesIO()
    body.is_little_endian = True
    body.is_implicit_VR = syntax == headers.ImplicitVRLittleEndian
    write_dataset(body, ds)
    late = Dataset()
    late.SOPInstanceUID = uid
    late.PixelData = pixels
    late["PixelData"].VR = "OW"
    write_dataset(body, late)
    header = headers.read_header_bytes(body.getvalue(), syntax)
    assert header is not None and header.SOPInstanceUID == uid
