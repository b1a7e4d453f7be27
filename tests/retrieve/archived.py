"""Instances archived into a project the way uploads are, for the retrieval tests."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import operations

HEUDICONV = Path(pydicom.__file__).parent.parent / "heudiconv" / "tests" / "data"
SIEMENS_SERIES = sorted((HEUDICONV / "b0dwiForFmap").glob("*.dcm"))  # implicit VR, 3 files
SIEMENS_MULTIFRAME = next(HEUDICONV.glob("MRI_102TD_PHA_S*.dcm"))  # enhanced MR, 3 frames


def pydicom_file(name: str) -> Path:
    """One of pydicom's own test files (those it ships, never downloaded)."""
    found = get_testdata_file(name, download=False)
    assert found is not None, name
    return Path(str(found))


def archive(ctx: Context, project: str, items: Iterable[Dataset | Path | bytes]) -> None:
    """Receive every item as an upload to ``project`` (subject S1, a session per study)
    and archive what was staged."""
    for item in items:
        if isinstance(item, Dataset):
            data = to_bytes(item)
        elif isinstance(item, Path):
            data = item.read_bytes()
        else:
            data = item
        study = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).StudyInstanceUID
        session = "E" + hashlib.sha256(study.encode()).hexdigest()[:12]
        source = Source("upload", project=project, subject="S1", session=session)
        with ctx.store.stage() as staged:
            staged.write(data)
            receive(ctx, staged, source)
    with ctx.db.read() as db:
        held = db.scalars(select(StagedSession.id).where(StagedSession.project_key == project))
        ids = list(held)
    assert ids
    for staged_id in ids:
        operations.archive(ctx, SYSTEM, staged_id)
