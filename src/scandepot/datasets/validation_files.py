"""The validation's pass over a release's files: each file of the manifest read once from
the archive's file its ``file_id`` points to, its size and SHA-256 compared with the
manifest, and each DICOM instance checked by de-identification's verification
(:mod:`scandepot.deid.verify`; see :mod:`.validation_deid` for what it is checked against).

The manifest comes a page at a time (:mod:`.manifest_rows`); the caller records where it
is after each page.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from scandepot.datasets.manifest_rows import Row
from scandepot.datasets.validation_deid import DeidCheck
from scandepot.datasets.validation_report import Progress

READ = 1024 * 1024
WHOLE = 16 * 1024 * 1024  # files up to this size are read once, into memory


@dataclass(frozen=True, slots=True)
class Read:
    size: int
    sha256: str
    header: Dataset | None  # the DICOM header (no pixel data), when asked for and readable
    error: str | None  # why the header could not be read


def read(path: Path, size: int, *, dicom: bool) -> Read:
    """The file's size and SHA-256, read once; for a DICOM file also its header, from the
    same bytes when they are few (raises OSError when it cannot be opened)."""
    with open(path, "rb", buffering=0) as fh:
        if size <= WHOLE:
            data = fh.readall()
            header, error = _header(io.BytesIO(data)) if dicom else (None, None)
            return Read(len(data), hashlib.sha256(data).hexdigest(), header, error)
        hasher, total = hashlib.sha256(), 0
        while chunk := fh.read(READ):
            hasher.update(chunk)
            total += len(chunk)
    if not dicom:
        return Read(total, hasher.hexdigest(), None, None)
    with open(path, "rb") as fh:
        header, error = _header(fh)
    return Read(total, hasher.hexdigest(), header, error)


def _header(source: Any) -> tuple[Dataset | None, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # values that break their VR
            return dcmread(source, force=False, stop_before_pixels=True), None
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        return None, f"cannot be read as DICOM ({str(exc)[:120]})"


def check_page(rows: list[Row], deid: DeidCheck, progress: Progress) -> None:
    """Each file of the page read and checked; what was found added to ``progress``."""
    sums, clean = progress.checks["checksums"], progress.checks["deidentified"]
    deid.prepare(rows)
    for row in rows:
        sums.checked += 1
        progress.files_checked += 1
        progress.cursor = row.id
        if row.file_id is None:
            sums.problem(path=row.path, reason="the release no longer holds this file")
            continue
        if row.disk is None:
            sums.problem(path=row.path, reason="the archive's file is gone")
            continue
        try:
            found = read(row.disk, row.size, dicom=row.dicom)
        except OSError as exc:
            sums.problem(path=row.path, reason=f"cannot be read: {exc.strerror or exc}")
            continue
        progress.bytes_checked += found.size
        if found.size != row.size:
            sums.problem(path=row.path, reason=f"{found.size} bytes, the manifest says {row.size}")
        elif found.sha256 != row.sha256:
            sums.problem(path=row.path, reason="its SHA-256 differs from the manifest's")
        if row.dicom:
            clean.checked += 1
            reason = found.error if found.header is None else deid.problem(row, found.header)
            if reason is not None:
                clean.problem(path=row.path, reason=reason)
