"""What the tests of a project's de-identification (its scripts, pseudonym table, the
sample test, offline runs) share: scripts of both kinds, a real DICOM file (pydicom's
MR_small), and a project with it archived."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import Session
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context

# The basic profile, no option: what the profile's loader reads (docs/deid-profile.md).
PROFILE = '{"options": []}'
# A CTP script that empties the Patient's Name and nothing else (docs/deid-ctp.md).
CTP_NAME_ONLY = '<script>\n<e en="T" t="00100010" n="PatientName">@empty()</e>\n</script>\n'
# A bad tag on line 3: refused naming the line.
CTP_BROKEN = (
    "<script>\n"
    '<e en="T" t="00100010" n="PatientName">@empty()</e>\n'
    '<e en="T" t="0010ZZ20" n="PatientID">@empty()</e>\n'
    "</script>\n"
)


def mr_small() -> Path:
    """pydicom's MR_small.dcm: Patient's Name CompressedSamples^MR1, Patient ID 4MR1."""
    found = get_testdata_file("MR_small.dcm")
    assert found is not None
    return Path(str(found))


@dataclass(frozen=True)
class Archived:
    project: str
    session: str
    SOPInstanceUID: str


def archive_mr_small(ctx: Context, project: str) -> Archived:
    """MR_small archived in ``project``, received as any upload is."""
    from scandepot.ingest.receive import Source, receive
    from scandepot.prearchive import operations

    data = mr_small().read_bytes()
    with ctx.store.stage() as staged:
        staged.write(data)
        receive(ctx, staged, Source("upload", project=project))
    ds = dcmread(mr_small())
    with ctx.db.read() as db:
        held = db.scalar(
            select(StagedSession.id).where(StagedSession.StudyInstanceUID == ds.StudyInstanceUID)
        )
    assert held is not None
    operations.archive(ctx, SYSTEM, held)
    with ctx.db.read() as db:
        label = db.scalar(
            select(Session.label).where(Session.StudyInstanceUID == ds.StudyInstanceUID)
        )
    assert label is not None
    return Archived(project, label, str(ds.SOPInstanceUID))
