"""Applying a loaded script to a dataset or a file, and verifying the result.

- :func:`deidentify`: a dataset in memory, changed in place, then verified.
- :func:`deidentify_file`: a DICOM file read, de-identified and written to a staged file
  (storage/), verified; the caller publishes or links the staged file. The source file is
  never changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from scandepot.deid import verify
from scandepot.deid.model import Run, Script
from scandepot.errors import Invalid
from scandepot.storage.store import StagedFile


@dataclass(frozen=True, slots=True)
class Result:
    dataset: Dataset  # the de-identified dataset (pixel data included)
    report: verify.Report


def deidentify(script: Script, run: Run, ds: Dataset, *, source: str = "instance") -> Result:
    """Apply ``script`` to ``ds`` in place and verify it: :class:`verify.NotDeidentified`
    if something identifying is left, :class:`model.Refused` if the script refuses."""
    before = verify.identifiers(ds)
    script.apply(ds, run)
    report = verify.check(before, ds)
    if not report.passed:
        raise verify.NotDeidentified(report, source=source)
    return Result(ds, report)


def read(path: Path) -> Dataset:
    """A DICOM file read whole; not DICOM: :class:`Invalid` naming the file."""
    try:
        return dcmread(path, force=False)
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise Invalid(f"{path.name}: not a DICOM file ({exc}).", field="file") from exc


def deidentify_file(script: Script, run: Run, src: Path, out: StagedFile) -> Result:
    """``src`` de-identified into ``out`` (written, not sealed or published)."""
    ds = read(src)
    result = deidentify(script, run, ds, source=src.name)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    out.write(buffer.getbuffer())
    return result
