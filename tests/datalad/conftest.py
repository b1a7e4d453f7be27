"""A visit for the DataLad tests: a study received and archived as any upload is, with
the acquisition headers the INM-ICF metadata holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import Session
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import operations


@dataclass(frozen=True)
class Archived:
    project: str
    session: str  # its label
    visit: str  # its site-wide ID


def archive(
    ctx: Context,
    project: str,
    study: Study,
    series: list[Series],
    *,
    session: str = "E1",
    per_series: int = 2,
) -> Archived:
    source = Source("upload", project=project, subject="S1", session=session)
    for s in series:
        for number in range(1, per_series + 1):
            ds = mr_instance(study, s, number, rows=8, columns=8)
            ds.MRAcquisitionType = "3D"
            ds.ProtocolName = f"prot_{s.SeriesNumber}"
            with ctx.store.stage() as staged:
                staged.write(to_bytes(ds))
                receive(ctx, staged, source)
    with ctx.db.read() as db:
        held = db.scalars(
            select(StagedSession.id).where(StagedSession.StudyInstanceUID == study.StudyInstanceUID)
        ).all()
    for staged_id in held:
        operations.archive(ctx, SYSTEM, staged_id)
    with ctx.db.read() as db:
        visit = db.scalar(select(Session.stable_id).where(Session.label == session))
    assert visit is not None
    return Archived(project, session, visit)


@pytest.fixture
def visit(ctx: Context, make_project: Callable[..., str]) -> Archived:
    project = make_project("private")
    study = Study()
    return archive(ctx, project, study, [Series(1, "T1w MPRAGE"), Series(2, "T2w")])
