"""Jobs as people see them: launch, re-run, cancel, show and list, with the permission
checks and the audit record of each.

A job's life after it is queued (claim, heartbeat, requeue, the wait for ``not_before``)
is the queue's: pipelines/queue.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import projects, scans, sessions
from scandepot.catalog.archive import Project, Scan, Session
from scandepot.catalog.paging import Page, PageRequest, paginate
from scandepot.catalog.pipelines import Job, JobStatus, PipelineConfig
from scandepot.context import Context
from scandepot.errors import Conflict, NotFound
from scandepot.events import JobQueued
from scandepot.pipelines import config, queue


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    pipeline: str
    parameters: dict[str, Any] | None = None


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
            Job.status.not_in(queue.finished_values()),
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


def new_task(
    db: DBSession,
    project: Project,
    task: str,
    parameters: dict[str, Any],
    target: str,
    *,
    launched_by: str,
    after_end_of: int | None = None,
) -> Job:
    """A job on no session (jobrun.SITE_TASKS): it reads what to do from ``parameters``.
    With ``after_end_of`` it waits for that job to end, and runs however it ended."""
    job = Job(
        project_id=project.id,
        pipeline=task,
        session_id=None,
        scan_id=None,
        target=target,
        parameters=parameters
        if after_end_of is None
        else {**parameters, queue.AFTER_ANY_END: True},
        after_job_id=after_end_of,
        status=JobStatus.QUEUED.value,
        message="",
        log="",
        outputs={},
        versions={},
        launched_by=launched_by,
        attempts=0,
        cancel_requested=False,
    )
    db.add(job)
    db.flush()
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
            AuditAction.JOB_LAUNCHED,
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
            AuditAction.JOB_LAUNCHED,
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
            finished = queue.cancel_queued(
                db, job, f"Cancelled by {actor.login} before it started."
            )
        else:
            job.cancel_requested = True
        audit.record(
            db, actor, AuditAction.JOB_CANCELLED, project=project, target=job.target, job=job.id
        )
    queue.announce_ended(ctx, project, finished)
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
