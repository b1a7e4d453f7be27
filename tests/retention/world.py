"""Staging areas filled the way scandepot fills them, and what retention left behind, for
the tests of retention."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path

from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import AuditEvent
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.retention import schedules
from scandepot.retention.schedules import ScheduleIn, ScheduleView
from tests.notify.world import build, send


def stage(
    ctx: Context,
    project: str | None,
    *,
    scanned: str = "20240301 093000",
    station: str = "MR1",
    by: str = "member",
    label: str = "E1",
) -> StagedSession:
    """A two-instance study scanned at ``scanned`` (DICOM local date and time) on
    ``station``, uploaded by ``by`` to ``project`` (None: unassigned) and built."""
    date, time = scanned.split()
    study = Study(StudyDate=date, StudyTime=time)
    series = Series(1, "T1w")
    for number in (1, 2):
        ds = mr_instance(study, series, number, rows=8, columns=8)
        ds.StationName = station
        send(ctx, ds, project, "S1", label, by=by)
    build(ctx)
    with ctx.db.read() as db:
        found = db.scalar(
            select(StagedSession).where(StagedSession.StudyInstanceUID == study.StudyInstanceUID)
        )
    assert found is not None
    return found


def schedule(ctx: Context, area: str, **fields: object) -> ScheduleView:
    return schedules.save(ctx, SYSTEM, ScheduleIn(area=area, **fields))  # type: ignore[arg-type]


def temporary(ctx: Context, changed: dt.datetime, size: int = 10) -> Path:
    """A temporary file as an upload leaves it, last changed at ``changed``."""
    path = ctx.store.tmp / f"{uuid.uuid4().hex}.part"
    path.write_bytes(b"x" * size)
    os.utime(path, (changed.timestamp(), changed.timestamp()))
    return path


def audited(ctx: Context, action: str = "retention.deleted") -> list[AuditEvent]:
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )


def staged_ids(ctx: Context) -> list[int]:
    with ctx.db.read() as db:
        return list(db.scalars(select(StagedSession.id).order_by(StagedSession.id)))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
