"""Job records and their state machine.

    queued --claim--> running --finish--> succeeded | failed | cancelled
      |                  |  \\--stale heartbeat--> queued (attempts left) | failed
      \\--cancel--> cancelled      \\--cancel--> cancel_requested, the runner stops

A queued job with a ``not_before`` time (auto-launched, waiting for its session to be
complete: pipelines/autolaunch.py) is not claimed before then.

A claim is one conditional UPDATE (``WHERE status = 'queued'``): of two executors that
try, exactly one changes the row, on SQLite and on PostgreSQL alike, without table
locks or SKIP LOCKED. The claim token then guards every later change by the runner.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, or_, select, update
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import aliased

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import projects, scans, sessions
from scandepot.archive.listing import Page, PageRequest, paginate
from scandepot.archive.models import Project, Scan, Session
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, NotFound
from scandepot.events import JobFinished, JobQueued
from scandepot.pipelines import config
from scandepot.pipelines.models import FINISHED, Job, JobStatus, PipelineConfig

LOG_LIMIT = 1_000_000  # characters of log kept per job: the head and the tail
WAITING = "Waiting until "  # how the message of a job held back by not_before begins


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    pipeline: str
    parameters: dict[str, Any] | None = None


def _finished_values() -> list[str]:
    return [s.value for s in FINISHED]


def _load_job(db: DBSession, actor: Actor, project: str, job_id: int, action: Action) -> Job:
    proj = projects.load(db, actor, project, action)
    job = db.scalar(select(Job).where(Job.id == job_id, Job.project_id == proj.id))
    if job is None:
        raise NotFound(f"Job {job_id} not found in project '{project}'.", field="job")
    return job


def _pending_before(db: DBSession, job: Job) -> int | None:
    """The unfinished job of a pipeline this one reads from, on the same session."""
    before = config.info(job.pipeline).after
    if not before or job.session_id is None:
        return None
    return db.scalar(
        select(Job.id)
        .where(
            Job.session_id == job.session_id,
            Job.pipeline.in_(before),
            Job.status.not_in(_finished_values()),
            or_(Job.scan_id.is_(None), Job.scan_id == job.scan_id),
        )
        .order_by(Job.id.desc())
        .limit(1)
    )


def new_job(
    db: DBSession,
    project: Project,
    session: Session,
    scan: Scan | None,
    pipeline: str,
    parameters: dict[str, Any],
    *,
    launched_by: str,
    after: int | None = None,
    rerun_of: int | None = None,
) -> Job:
    job = Job(
        project_id=project.id,
        pipeline=pipeline,
        session_id=session.id,
        scan_id=scan.id if scan is not None else None,
        target=session.label if scan is None else f"{session.label}/{scan.label}",
        parameters=parameters,
        status=JobStatus.QUEUED.value,
        message="",
        log="",
        outputs={},
        versions={},
        launched_by=launched_by,
        rerun_of=rerun_of,
        attempts=0,
        cancel_requested=False,
    )
    db.add(job)
    db.flush()
    job.after_job_id = after if after is not None else _pending_before(db, job)
    return job


def _enabled(db: DBSession, project: Project, pipeline: str) -> PipelineConfig:
    row = db.scalar(
        select(PipelineConfig).where(
            PipelineConfig.project_id == project.id, PipelineConfig.pipeline == pipeline
        )
    )
    if row is None or not row.enabled:
        raise Conflict(
            f"Pipeline '{pipeline}' is not enabled in project '{project.label}'; "
            "an owner enables it in the project's pipeline settings.",
            field="pipeline",
        )
    return row


def announce_queued(ctx: Context, project: str, created: Sequence[Job]) -> None:
    for job in created:
        ctx.events.publish(JobQueued(job.id, job.pipeline, project))


def launch(
    ctx: Context,
    actor: Actor,
    project: str,
    session: str,
    request: LaunchRequest,
    *,
    scan: str | None = None,
) -> Job:
    """Queue one job of an enabled pipeline on a session, or on one scan of it."""
    config.info(request.pipeline)
    with ctx.db.write() as db:
        if scan is not None:
            found_scan: Scan | None = scans.load(db, actor, project, session, scan, Action.LAUNCH)
            assert found_scan is not None
            found_session = found_scan.session
        else:
            found_scan = None
            found_session = sessions.load(db, actor, project, session, Action.LAUNCH)
        row = _enabled(db, found_session.project, request.pipeline)
        parameters = config.check_parameters(
            request.pipeline, {**row.parameters, **(request.parameters or {})}
        )
        job = new_job(
            db,
            found_session.project,
            found_session,
            found_scan,
            request.pipeline,
            parameters,
            launched_by=actor.login,
        )
        audit.record(
            db,
            actor,
            "job.launched",
            project=project,
            target=job.target,
            job=job.id,
            pipeline=job.pipeline,
        )
    announce_queued(ctx, project, [job])
    return job


def rerun(ctx: Context, actor: Actor, project: str, job_id: int) -> Job:
    """Queue the same pipeline, target and parameters again; outputs are replaced."""
    with ctx.db.write() as db:
        old = _load_job(db, actor, project, job_id, Action.LAUNCH)
        if not JobStatus(old.status).finished:
            raise Conflict(f"Job {job_id} is still {old.status}; cancel it first.", field="job")
        if old.session_id is None or (old.target.count("/") and old.scan_id is None):
            raise Conflict(f"The target of job {job_id} no longer exists.", field="job")
        session = db.get(Session, old.session_id)
        scan = db.get(Scan, old.scan_id) if old.scan_id is not None else None
        assert session is not None
        _enabled(db, session.project, old.pipeline)
        job = new_job(
            db,
            session.project,
            session,
            scan,
            old.pipeline,
            config.check_parameters(old.pipeline, old.parameters),
            launched_by=actor.login,
            rerun_of=old.id,
        )
        if old.scan_ids is not None:  # the scans an auto-launched job covered, again
            job.scan_ids, job.target = list(old.scan_ids), old.target
        audit.record(
            db,
            actor,
            "job.launched",
            project=project,
            target=job.target,
            job=job.id,
            pipeline=job.pipeline,
            rerun_of=old.id,
        )
    announce_queued(ctx, project, [job])
    return job


def cancel(ctx: Context, actor: Actor, project: str, job_id: int) -> Job:
    """A queued job ends at once; a running one is asked to stop (its runner checks)."""
    finished: list[Job] = []
    with ctx.db.write() as db:
        job = _load_job(db, actor, project, job_id, Action.LAUNCH)
        status = JobStatus(job.status)
        if status.finished:
            raise Conflict(f"Job {job_id} has already {status.value}.", field="job")
        if status is JobStatus.QUEUED:
            _end(job, JobStatus.CANCELLED, f"Cancelled by {actor.login} before it started.")
            finished.append(job)
            finished += _settle_dependents(db, job)
        else:
            job.cancel_requested = True
        audit.record(db, actor, "job.cancelled", project=project, target=job.target, job=job.id)
    for done in finished:
        _announce_finished(ctx, project, done)
    return job


def get(ctx: Context, actor: Actor, project: str, job_id: int) -> Job:
    with ctx.db.read() as db:
        return _load_job(db, actor, project, job_id, Action.READ)


def list_jobs(
    ctx: Context,
    actor: Actor,
    project: str,
    page: PageRequest,
    *,
    status: JobStatus | None = None,
    pipeline: str | None = None,
    session: str | None = None,
) -> Page[Job]:
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        stmt = select(Job).where(Job.project_id == proj.id)
        if status is not None:
            stmt = stmt.where(Job.status == status.value)
        if pipeline:
            stmt = stmt.where(Job.pipeline == pipeline)
        if session:
            # By the session as it is labelled now (a job's target text keeps the old label).
            stmt = stmt.join(Session, Session.id == Job.session_id).where(Session.label == session)
        return paginate(
            db,
            stmt,
            page,
            sort_fields={
                "id": Job.id,
                "created": Job.created_at,
                "status": Job.status,
                "pipeline": Job.pipeline,
            },
            default_sort="-id",
            tiebreak=Job.id.desc(),
        )


# ---- the runner's side (acts as the system) ----


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
        _end(
            job,
            JobStatus.CANCELLED,
            f"Not run: job {parent.id} ({parent.pipeline}) it depends on {parent.status}.",
        )
        ended.append(job)
        ended += _settle_dependents(db, job)
    return ended


def _announce_finished(ctx: Context, project: str, job: Job) -> None:
    ctx.events.publish(JobFinished(job.id, job.pipeline, project, job.status, job.target))


def _claimable() -> Any:
    parent = aliased(Job)
    return and_(
        Job.status == JobStatus.QUEUED.value,
        Job.cancel_requested.is_(False),
        or_(Job.not_before.is_(None), Job.not_before <= utcnow()),
        or_(
            Job.after_job_id.is_(None),
            exists().where(parent.id == Job.after_job_id, parent.status.in_(_finished_values())),
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


def trim_log(text: str) -> str:
    if len(text) <= LOG_LIMIT:
        return text
    half = LOG_LIMIT // 2
    return text[:half] + "\n[... log shortened ...]\n" + text[-half:]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: JobStatus
    message: str
    log: str
    outputs: dict[str, Any]
    versions: dict[str, str]


def record_outcome(db: DBSession, job: Job, outcome: Outcome) -> list[Job]:
    """Write how the job ended into the caller's transaction; returns jobs ended with it."""
    _end(job, outcome.status, outcome.message)
    job.log = trim_log(outcome.log)
    job.outputs = outcome.outputs
    job.versions = outcome.versions
    return [job, *_settle_dependents(db, job)]


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


def announce_ended(ctx: Context, project: str, ended: Sequence[Job]) -> None:
    for job in ended:
        _announce_finished(ctx, project, job)


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


def requeue_stale(ctx: Context) -> list[int]:
    """Running jobs whose runner went silent: queued again, or failed after too many tries."""
    settings = ctx.settings
    cutoff = utcnow() - dt.timedelta(seconds=settings.pipeline_stale_after_s)
    requeued: list[int] = []
    ended: list[tuple[str, list[Job]]] = []
    with ctx.db.write() as db:
        stale = db.scalars(
            select(Job).where(Job.status == JobStatus.RUNNING.value, Job.heartbeat_at < cutoff)
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
