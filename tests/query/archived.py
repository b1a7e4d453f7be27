"""Studies archived for the query tests: received and archived as any upload is."""

from __future__ import annotations

from pydicom.uid import generate_uid
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import UID_ROOT, Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import operations


def archive_study(
    ctx: Context,
    project: str,
    study: Study,
    series: list[Series],
    per_series: int = 2,
    *,
    session: str | None = None,
) -> None:
    """Every instance of ``series`` received into ``project`` and the session archived
    (labelled ``session``, by default after the study's UID)."""
    label = session or "E" + study.StudyInstanceUID.rsplit(".", 1)[-1][-8:]
    source = Source("upload", project=project, subject=study.PatientID, session=label)
    for s in series:
        for number in range(1, per_series + 1):
            # The same UID for the same instance of a series archived in two projects.
            uid = generate_uid(UID_ROOT, entropy_srcs=[s.SeriesInstanceUID, str(number)])
            ds = mr_instance(study, s, number, rows=8, columns=8, SOPInstanceUID=uid)
            ds.SeriesDate = study.StudyDate
            ds.SeriesTime = study.StudyTime
            with ctx.store.stage() as staged:
                staged.write(to_bytes(ds))
                receive(ctx, staged, source)
    with ctx.db.read() as db:
        held = db.scalar(
            select(StagedSession.id).where(
                StagedSession.StudyInstanceUID == study.StudyInstanceUID,
                StagedSession.project_key == project,
            )
        )
    assert held is not None
    operations.archive(ctx, SYSTEM, held)
