"""Auto-launch: pipelines run on what an archive added, once the session is complete.

A scanner sends each series as its reconstruction ends, often minutes apart, and each
is archived on its own (a merge into the session). The first archive that adds scans
queues one job per auto-launched pipeline with a ``not_before`` time: the project's
``session_complete_after_min`` from now. Each later archive that adds or changes scans,
while those jobs are still queued, adds its scans to the same jobs and pushes the time
back; once the session has been quiet for that long, one launch covers every scan added
since the last. The wait lives in the job rows, so a restart keeps it. A merge that
added nothing (only copies already archived, or kept) launches nothing, and scans it
did not touch keep the results they have.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import Scan, Session
from scandepot.catalog.pipelines import Job, JobStatus, PipelineConfig
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.events import SessionArchived
from scandepot.pipelines import config, jobs, queue

TARGET_LENGTH = 160  # Job.target


def waiting_message(minutes: int, until: dt.datetime) -> str:
    return (
        f"{queue.WAITING}{minutes} minutes after the last series arrived, "
        f"at {until.astimezone(dt.UTC):%H:%M} UTC."
    )


def _target(session: Session, labels: list[str]) -> str:
    text = f"{session.label}, scans {', '.join(labels)}"
    if len(text) > TARGET_LENGTH:
        text = text[: TARGET_LENGTH - 1] + "…"
    return text


def _pending(db: DBSession, session_id: int) -> dict[str, Job]:
    """This session's auto-launched jobs that wait and whose launch has not begun."""
    waiting = db.scalars(
        select(Job)
        .where(
            Job.session_id == session_id,
            Job.status == JobStatus.QUEUED.value,
            Job.launched_by == SYSTEM.login,
            Job.not_before.is_not(None),
            Job.cancel_requested.is_(False),
        )
        .order_by(Job.id)
        .with_for_update()
    ).all()
    # A job that waits for one already running belongs to a launch under way: its scans
    # are fixed (QA reads the NIfTI its dcm2niix job makes), so it is left alone.
    fresh = list(waiting)
    while True:
        ids = {j.id for j in fresh}
        kept = [j for j in fresh if j.after_job_id is None or j.after_job_id in ids]
        if len(kept) == len(fresh):
            return {j.pipeline: j for j in kept}
        fresh = kept


def auto_launch(ctx: Context, event: SessionArchived) -> list[Job]:
    """Queue, or extend and postpone, the auto-launched jobs for the scans an archive
    added or changed; returns the jobs newly queued."""
    if not event.scans:
        return []
    now = utcnow()
    with ctx.db.write() as db:
        session = db.scalar(select(Session).where(Session.stable_id == event.session_id))
        if session is None:
            return []
        rows = _auto_launched(db, session.project_id)
        labels = _scan_labels(db, session.id)
        added = [i for i, label in labels.items() if label in event.scans]
        if not rows or not added:
            return []
        minutes = session.project.session_complete_after_min
        until = now + dt.timedelta(minutes=minutes)
        arrival = _Arrival(labels, added, until, waiting_message(minutes, until) if minutes else "")
        created = _queue_or_postpone(db, session, rows, arrival)
        project = session.project.label
    jobs.announce_queued(ctx, project, created)
    return created


@dataclass(frozen=True, slots=True)
class _Arrival:
    """What one archive brought to a session, and how long its launch now waits."""

    labels: dict[int, str]  # every scan of the session: id -> label
    added: list[int]  # the scans this archive added or changed
    until: dt.datetime  # not_before of the session's launch
    message: str  # what a job waiting until then says


def _auto_launched(db: DBSession, project_id: int) -> dict[str, PipelineConfig]:
    """The project's pipelines that are enabled and launch on their own, by name."""
    return {
        r.pipeline: r
        for r in db.scalars(
            select(PipelineConfig).where(
                PipelineConfig.project_id == project_id,
                PipelineConfig.enabled.is_(True),
                PipelineConfig.auto_launch.is_(True),
            )
        )
    }


def _scan_labels(db: DBSession, session_id: int) -> dict[int, str]:
    return {
        scan_id: label
        for scan_id, label in db.execute(
            select(Scan.id, Scan.label).where(Scan.session_id == session_id)
        )
    }


def _queue_or_postpone(
    db: DBSession, session: Session, rows: dict[str, PipelineConfig], arrival: _Arrival
) -> list[Job]:
    """In launch order, one job per pipeline: the waiting one takes the new scans and the
    later time, or a new one is queued after the pipeline it reads from. Returns the new."""
    pending = _pending(db, session.id)
    launch: dict[str, Job] = {}
    created: list[Job] = []
    for name in config.ORDER:
        row = rows.get(name)
        if row is None:
            continue
        job = pending.get(name)
        if job is None:
            after = next((launch[p].id for p in config.info(name).after if p in launch), None)
            job = _new_job(db, session, row, after=after)
            created.append(job)
        scan_ids = sorted({*(job.scan_ids or ()), *arrival.added})
        job.scan_ids = scan_ids
        job.target = _target(session, [arrival.labels[i] for i in scan_ids if i in arrival.labels])
        job.not_before = arrival.until
        job.message = arrival.message
        launch[name] = job
    return created


def _new_job(db: DBSession, session: Session, row: PipelineConfig, *, after: int | None) -> Job:
    job = jobs.new_job(
        db,
        session.project,
        session,
        None,
        row.pipeline,
        config.check_parameters(row.pipeline, row.parameters),
        launched_by=SYSTEM.login,
        after=after,
    )
    job.scan_ids = []
    return job


def waiting_until(job: Job, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """When a queued job held back for its session to be complete may start; None when
    it does not wait for that (any more)."""
    if job.status != JobStatus.QUEUED.value or job.not_before is None:
        return None
    return job.not_before if job.not_before > (now or utcnow()) else None


def waiting(found: Sequence[Job]) -> list[Job]:
    """Those of ``found`` that wait for their session to be complete, in launch order."""
    now = utcnow()
    held = [j for j in found if waiting_until(j, now=now) is not None]
    return sorted(held, key=lambda j: (config.ORDER.index(j.pipeline), j.id))
