"""Applying a loaded script to a dataset or a file, and verifying the result.

- :func:`deidentify`: a dataset in memory, changed in place, then verified.
- :func:`deidentify_file`: a DICOM file read, de-identified and written to a staged file
  (storage/), verified; the caller publishes or links the staged file. The source file is
  never changed.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from scandepot.deid import fast, verify
from scandepot.deid.elements import Unsupported
from scandepot.deid.model import Run, Script
from scandepot.deid.profile import Profile
from scandepot.errors import Invalid
from scandepot.storage.store import StagedFile

PIXEL_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"  # (FFFE,E0DD), length 0


@dataclass(frozen=True, slots=True)
class Result:
    # The de-identified dataset; without pixel data when the script did not need it.
    dataset: Dataset
    report: verify.Report


def deidentify(script: Script, run: Run, ds: Dataset, *, source: str = "instance") -> Result:
    """Apply ``script`` to ``ds`` in place and verify it: :class:`verify.NotDeidentified`
    if something identifying is left, :class:`model.Refused` if the script refuses."""
    with warnings.catch_warnings():
        # pydicom warns of values it reads that break their VR (a UID with a leading zero):
        # the instance is what it is, and its UIDs are replaced anyway.
        warnings.simplefilter("ignore", UserWarning)
        before = verify.identifiers(ds)
        if isinstance(script, Profile):
            script.apply(ds, run, before=before)
        else:
            script.apply(ds, run)
        report = verify.check(before, ds, _kept(script), rules=_rules(script))
    if not report.passed:
        raise verify.NotDeidentified(report, source=source)
    return Result(ds, report)


def _kept(script: Script) -> frozenset[int]:
    """Tags the script keeps on purpose (a script may say so with a ``kept`` attribute)."""
    kept = getattr(script, "kept", None)
    return kept if isinstance(kept, frozenset) else frozenset()


def _rules(script: Script) -> verify.Rules:
    """What the script promises beyond identifiers (``verify_rules()``, when it has one)."""
    method = getattr(script, "verify_rules", None)
    rules = method() if callable(method) else None
    return rules if isinstance(rules, verify.Rules) else verify.Rules()


def read(path: Path) -> Dataset:
    """A DICOM file read whole; not DICOM: :class:`Invalid` naming the file."""
    try:
        return dcmread(path, force=False)
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise Invalid(f"{path.name}: not a DICOM file ({exc}).", field="file") from exc


def _header(path: Path) -> tuple[Dataset, bytes, memoryview]:
    """The file's bytes, its dataset up to the pixel data, and the pixel data element's
    bytes as stored (empty when the file has none, or when anything follows it: then the
    dataset is the whole file). Not DICOM: :class:`Invalid` naming the file."""
    try:
        data = path.read_bytes()
        fp = BytesIO(data)
        ds = dcmread(fp, force=False, stop_before_pixels=True)
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise Invalid(f"{path.name}: not a DICOM file ({exc}).", field="file") from exc
    tail = memoryview(data)[fp.tell() :]
    if tail and not _pixel_data_last(tail, ds):
        return read(path), data, memoryview(b"")
    return ds, data, tail


def _pixel_data_last(tail: memoryview, ds: Dataset) -> bool:
    """Is ``tail`` exactly one Pixel Data element, explicit VR little endian (native or
    encapsulated)? Anything else (trailing padding, a signature) takes the slow way."""
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None or not syntax.is_little_endian or syntax.is_implicit_VR:
        return False
    if syntax.is_deflated or len(tail) < 12:
        return False
    if tail[:4] != PIXEL_TAG or bytes(tail[4:6]) not in (b"OB", b"OW"):
        return False
    (length,) = struct.unpack_from("<I", tail, 8)
    if length == 0xFFFFFFFF:
        return bool(bytes(tail[-8:]) == SEQUENCE_DELIMITER)
    return bool(12 + length == len(tail))


def _fast(script: Profile, run: Run, src: Path, out: StagedFile) -> Result:
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise Invalid(f"{src.name}: not readable ({exc}).", field="file") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # as in deidentify()
        done = fast.deidentify(script, run, data)
    if not done.report.passed:
        raise verify.NotDeidentified(done.report, source=src.name)
    out.write(b"".join(done.chunks))
    return Result(done.dataset, done.report)


def deidentify_file(script: Script, run: Run, src: Path, out: StagedFile) -> Result:
    """``src`` de-identified into ``out`` (written, not sealed or published).

    A script that leaves pixel data alone (``needs_pixels`` False, as the profile) is
    given the dataset read up to the pixel data, whose element is then copied as stored.
    """
    if isinstance(script, Profile) and not script.needs_pixels:
        try:
            return _fast(script, run, src, out)
        except Unsupported:
            pass
    if getattr(script, "needs_pixels", True):
        ds, tail = read(src), memoryview(b"")
    else:
        ds, _, tail = _header(src)
    result = deidentify(script, run, ds, source=src.name)
    ds.preamble = None  # 128 zero bytes: a preamble can carry anything (TIFF, a report)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    out.write(buffer.getbuffer())
    if tail:
        out.write(tail)
    return result
