"""The job queue: what executors and runners do with job records.

    queued --claim--> running --finish--> succeeded | failed | cancelled
      |                  |  \\--stale heartbeat--> queued (attempts left) | failed
      \\--cancel--> cancelled      \\--cancel--> cancel_requested, the runner stops

A queued job with a ``not_before`` time (auto-launched, waiting for its session to be
complete: pipelines/autolaunch.py) is not claimed before then.

A claim is one conditional UPDATE (``WHERE status = 'queued'``): of two executors that
try, exactly one changes the row, on SQLite and on PostgreSQL alike, without table
locks or SKIP LOCKED. The claim token then guards every later change by the runner.

What people do with jobs (launch, re-run, cancel, list) is in pipelines/jobs.py.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, or_, select, update
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import aliased

from scandepot.catalog import journal
from scandepot.catalog.archive import Project
from scandepot.catalog.pipelines import FINISHED, Job, JobStatus
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict
from scandepot.events import JobFinished

LOG_LIMIT = 1_000_000  # characters of log kept per job: the head and the tail
WAITING = "Waiting until "  # how the message of a job held back by not_before begins
# A job's parameter: it waits for the job before it (``after_job_id``) to end, and then
# runs however that one ended (the pushes of one destination, one after the other).
AFTER_ANY_END = "after_any_end"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: JobStatus
    message: str
    log: str
    outputs: dict[str, Any]
    versions: dict[str, str]


def worker_name(kind: str) -> str:
    """Who holds a claim, as job records show it: ``local:host:pid``, ``celery:host:pid``."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


def finished_values() -> list[str]:
    return [s.value for s in FINISHED]


# ---- ending jobs ----


def _end(job: Job, status: JobStatus, message: str) -> None:
    job.status = status.value
    job.message = message
    job.finished_at = utcnow()
    job.claim = None


def _settle_dependents(db: DBSession, parent: Job) -> list[Job]:
    """Jobs waiting for ``parent``: they run after a success, end with it otherwise."""
    if parent.status == JobStatus.SUCCEEDED.value:
        return []
    waiting = db.scalars(
        select(Job).where(Job.after_job_id == parent.id, Job.status == JobStatus.QUEUED.value)
    ).all()
    ended: list[Job] = []
    for job in waiting:
        if job.parameters.get(AFTER_ANY_END):
            continue
        _end(
            job,
            JobStatus.CANCELLED,
            f"Not run: job {parent.id} ({parent.pipeline}) it depends on {parent.status}.",
        )
        ended.append(job)
        ended += _settle_dependents(db, job)
    return ended


def _journal(db: DBSession, ended: list[Job]) -> list[Job]:
    """Each ended job in the event journal, in the transaction that ends it: every
    process's notifications hear of jobs a Celery worker or a pool process ran."""
    labels: dict[int, str] = {}
    for job in ended:
        if job.project_id not in labels:
            project = db.get(Project, job.project_id)
            assert project is not None
            labels[job.project_id] = project.label
        label = labels[job.project_id]
        journal.record(db, _finished(job, label))
    return ended


def _finished(job: Job, project: str) -> JobFinished:
    return JobFinished(job.id, job.pipeline, project, job.status, job.target, job.message)


def cancel_queued(db: DBSession, job: Job, message: str) -> list[Job]:
    """End a job nobody has claimed, in the caller's transaction; returns the jobs ended
    (it, and those that waited for it)."""
    _end(job, JobStatus.CANCELLED, message)
    return _journal(db, [job, *_settle_dependents(db, job)])


def trim_log(text: str) -> str:
    if len(text) <= LOG_LIMIT:
        return text
    half = LOG_LIMIT // 2
    return text[:half] + "\n[... log shortened ...]\n" + text[-half:]


def record_outcome(db: DBSession, job: Job, outcome: Outcome) -> list[Job]:
    """Write how the job ended into the caller's transaction; returns jobs ended with it."""
    _end(job, outcome.status, outcome.message)
    job.log = trim_log(outcome.log)
    job.outputs = outcome.outputs
    job.versions = outcome.versions
    return _journal(db, [job, *_settle_dependents(db, job)])


def announce_ended(ctx: Context, project: str, ended: Sequence[Job]) -> None:
    for job in ended:
        ctx.events.publish(_finished(job, project))


# ---- claiming ----


def _claimable() -> Any:
    parent = aliased(Job)
    return and_(
        Job.status == JobStatus.QUEUED.value,
        Job.cancel_requested.is_(False),
        or_(Job.not_before.is_(None), Job.not_before <= utcnow()),
        or_(
            Job.after_job_id.is_(None),
            exists().where(parent.id == Job.after_job_id, parent.status.in_(finished_values())),
        ),
    )


def claim(ctx: Context, job_id: int, worker: str) -> str | None:
    """Take a queued job whose prerequisites have finished; the claim token, or None."""
    token = uuid.uuid4().hex
    now = utcnow()
    with ctx.db.write() as db:
        result = db.execute(
            update(Job)
            .where(Job.id == job_id, _claimable())
            .values(
                status=JobStatus.RUNNING.value,
                # It waits no longer; any other note (an interruption) stays.
                message=case((Job.message.startswith(WAITING), ""), else_=Job.message),
                claim=token,
                worker=worker[:128],
                started_at=now,
                heartbeat_at=now,
                attempts=Job.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        claimed = result.rowcount == 1  # type: ignore[attr-defined]
    return token if claimed else None


def claimable_ids(ctx: Context, limit: int) -> list[int]:
    with ctx.db.read() as db:
        return list(db.scalars(select(Job.id).where(_claimable()).order_by(Job.id).limit(limit)))


def claim_next(ctx: Context, worker: str, limit: int) -> list[tuple[int, str]]:
    """Claim up to ``limit`` jobs, oldest first."""
    taken: list[tuple[int, str]] = []
    for job_id in claimable_ids(ctx, limit * 2):
        if len(taken) >= limit:
            break
        token = claim(ctx, job_id, worker)
        if token is not None:
            taken.append((job_id, token))
    return taken


# ---- the runner's side, while it holds a claim ----


def heartbeat(ctx: Context, job_id: int, token: str) -> bool:
    """Prove the runner is alive. False when it should stop: cancelled, or no longer its job."""
    with ctx.db.write() as db:
        job = db.get(Job, job_id)
        if job is None or job.claim != token or job.status != JobStatus.RUNNING.value:
            return False
        job.heartbeat_at = utcnow()
        return not job.cancel_requested


def holds(db: DBSession, job_id: int, token: str) -> Job:
    """The job, locked, if this runner still holds it; Conflict otherwise."""
    job = db.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or job.claim != token or job.status != JobStatus.RUNNING.value:
        raise Conflict(f"Job {job_id} is no longer held by this runner.")
    return job


def finish(ctx: Context, job_id: int, token: str, outcome: Outcome) -> list[Job]:
    """Record the end of a job this runner holds (outputs already published or none)."""
    with ctx.db.write() as db:
        job = db.scalar(select(Job).where(Job.id == job_id).with_for_update())
        if job is None or job.claim != token:
            return []
        ended = record_outcome(db, job, outcome)
        project = db.get(Project, job.project_id)
        assert project is not None
        label = project.label
    announce_ended(ctx, label, ended)
    return ended


def announce(ctx: Context, job_id: int) -> None:
    """Publish JobFinished for a job (and those ended with it) that another process ran."""
    with ctx.db.read() as db:
        job = db.get(Job, job_id)
        if job is None or not JobStatus(job.status).finished:
            return
        project = db.get(Project, job.project_id)
        assert project is not None
        ended = [job]
        ended += db.scalars(
            select(Job).where(
                Job.after_job_id == job_id,
                Job.status == JobStatus.CANCELLED.value,
                Job.started_at.is_(None),
            )
        ).all()
    announce_ended(ctx, project.label, ended)


def waiting_on(ctx: Context, job_id: int) -> list[int]:
    """Queued jobs that were waiting for ``job_id`` (now claimable if it succeeded)."""
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(Job.id).where(
                    Job.after_job_id == job_id, Job.status == JobStatus.QUEUED.value
                )
            )
        )


# ---- putting jobs back ----


def release(ctx: Context, held: Sequence[tuple[int, str]], reason: str) -> None:
    """Put jobs back in the queue (an executor stopping while they run)."""
    with ctx.db.write() as db:
        for job_id, token in held:
            db.execute(
                update(Job)
                .where(Job.id == job_id, Job.claim == token, Job.status == "running")
                .values(status=JobStatus.QUEUED.value, claim=None, message=reason)
                .execution_options(synchronize_session=False)
            )


def later(ctx: Context, job_id: int, token: str, seconds: float, reason: str, log: str) -> bool:
    """Queue a running job again, not to be claimed for ``seconds`` (it raised
    :class:`~scandepot.pipelines.jobrun.Later`); the wait is not an interruption, so it
    does not count as an attempt. False when the claim was lost or a cancel came first."""
    until = utcnow() + dt.timedelta(seconds=seconds)
    with ctx.db.write() as db:
        try:
            job = holds(db, job_id, token)
        except Conflict:
            return False
        if job.cancel_requested:
            return False
        job.status = JobStatus.QUEUED.value
        job.claim = None
        job.not_before = until
        job.dispatched_at = None
        job.attempts = max(0, job.attempts - 1)
        job.message = f"{WAITING}{until.isoformat(timespec='seconds')}: {reason}"[:1024]
        job.log = trim_log(log)
    return True


def requeue_stale(ctx: Context) -> list[int]:
    """Running jobs whose runner went silent: queued again, or failed after too many tries."""
    settings = ctx.settings
    cutoff = utcnow() - dt.timedelta(seconds=settings.pipeline_stale_after_s)
    requeued: list[int] = []
    ended: list[tuple[str, list[Job]]] = []
    with ctx.db.write() as db:
        # Every worker sweeps: a job another sweep holds is its to end (or queue again),
        # so that two at once never record one interruption twice.
        stale = db.scalars(
            select(Job)
            .where(Job.status == JobStatus.RUNNING.value, Job.heartbeat_at < cutoff)
            .with_for_update(skip_locked=True)
        ).all()
        for job in stale:
            note = f"Interrupted (no heartbeat from {job.worker} since {job.heartbeat_at})."
            if job.cancel_requested:
                done = record_outcome(db, job, _interrupted(job, JobStatus.CANCELLED, note))
            elif job.attempts >= settings.pipeline_max_attempts:
                note += f" Failed after {job.attempts} attempts."
                done = record_outcome(db, job, _interrupted(job, JobStatus.FAILED, note))
            else:
                job.status = JobStatus.QUEUED.value
                job.claim = None
                job.message = note + " Queued again."
                job.dispatched_at = None
                requeued.append(job.id)
                continue
            project = db.get(Project, job.project_id)
            assert project is not None
            ended.append((project.label, done))
    for label, done in ended:
        announce_ended(ctx, label, done)
    return requeued


def _interrupted(job: Job, status: JobStatus, note: str) -> Outcome:
    return Outcome(status, note, job.log, job.outputs, job.versions)


# ---- sending to workers (Celery) ----


def undispatched(ctx: Context, *, older_than_s: float) -> list[int]:
    """Claimable jobs never sent to a worker, or sent long ago (a message lost)."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than_s)
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(Job.id)
                .where(_claimable(), or_(Job.dispatched_at.is_(None), Job.dispatched_at < cutoff))
                .order_by(Job.id)
                .limit(1000)
            )
        )


def mark_dispatched(ctx: Context, job_ids: Sequence[int]) -> None:
    if not job_ids:
        return
    with ctx.db.write() as db:
        db.execute(
            update(Job)
            .where(Job.id.in_(list(job_ids)))
            .values(dispatched_at=utcnow())
            .execution_options(synchronize_session=False)
        )
