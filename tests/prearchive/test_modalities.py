"""A session's Modalities in Study: DICOM's backslash-separated values, kept up to date as
a merge adds series of other modalities."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import Session
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import operations


def arrive_and_archive(ctx: Context, study: Study, series: Series, modality: str) -> None:
    ds = mr_instance(study, series, 1, rows=8, columns=8)
    ds.Modality = modality
    with ctx.store.stage() as staged:
        staged.write(to_bytes(ds))
        receive(ctx, staged, Source("upload", project="PILOT"))
    with ctx.db.read() as db:
        held = db.scalar(select(StagedSession.id))
    assert held is not None
    operations.archive(ctx, SYSTEM, held)


def test_a_merge_adds_the_modalities_of_its_series(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    make_project("private", label="PILOT", upload_destination="archive")
    study = Study(StudyDescription="xnat://PILOT/s1/e1")
    arrive_and_archive(ctx, study, Series(1, "T1w"), "MR")
    arrive_and_archive(ctx, study, Series(2, "scout"), "CT")
    arrive_and_archive(ctx, study, Series(3, "T2w"), "MR")
    with ctx.db.read() as db:
        [held] = db.scalars(select(Session.ModalitiesInStudy))
    assert held == "CT\\MR"
