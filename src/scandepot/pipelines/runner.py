"""Run one claimed job: the same code under the local executor and in Celery workers.

The pipeline writes into a work folder under ``tmp/``; nothing it makes is visible until
the end, when every output folder is published and the job's record is written in one
catalog transaction (archive/outputs.py). A job that fails or is cancelled leaves no
output behind. While it runs, a heartbeat thread keeps the record fresh and notices a
cancel request or the loss of the claim, which stops the pipeline at its next check.
"""

from __future__ import annotations

import logging
import shutil
import threading
import traceback
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot import __version__
from scandepot.archive import outputs
from scandepot.archive.layout import Owner
from scandepot.catalog.archive import Project, Resource, Scan
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.context import Context
from scandepot.pipelines import queue
from scandepot.pipelines.jobrun import (
    SITE_TASKS,
    Cancelled,
    JobRun,
    Later,
    PipelineError,
    Pipelines,
    ScanTarget,
)
from scandepot.pipelines.queue import Outcome

log = logging.getLogger("scandepot.pipelines")


def _targets(ctx: Context, job: Job) -> list[ScanTarget]:
    with ctx.db.read() as db:
        if job.session_id is None or (job.target.count("/") and job.scan_id is None):
            raise PipelineError(f"The target '{job.target}' was deleted.")
        stmt = select(Scan).where(Scan.session_id == job.session_id)
        if job.scan_id is not None:
            stmt = stmt.where(Scan.id == job.scan_id)
        elif job.scan_ids is not None:  # auto-launched: the scans archived since the last
            stmt = stmt.where(Scan.id.in_(job.scan_ids))
        found = db.scalars(stmt.order_by(Scan.SeriesNumber, Scan.label)).all()
        targets = []
        for scan in found:
            session = scan.session
            owner = Owner(session.project, session.subject, session, scan)
            labels = db.scalars(select(Resource.label).where(Resource.parent_key == owner.key))
            targets.append(
                ScanTarget(
                    scan.id,
                    session.id,
                    scan.label,
                    scan.type,
                    scan.Modality,
                    scan.SeriesDescription,
                    {label: ctx.archive_path(owner.resource_files_dir(label)) for label in labels},
                )
            )
        return targets


class Heartbeat(threading.Thread):
    """Keeps the job's record fresh; sets ``stop`` on cancel or when the claim is lost."""

    def __init__(self, ctx: Context, job_id: int, token: str, stop: threading.Event) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.ctx, self.job_id, self.token, self.stop = ctx, job_id, token, stop
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.ctx.settings.pipeline_heartbeat_s):
            try:
                if not queue.heartbeat(self.ctx, self.job_id, self.token):
                    self.stop.set()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the job
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)


def execute(
    ctx: Context,
    job_id: int,
    token: str,
    *,
    pipelines: Pipelines,
    dispatch: Callable[[list[int]], None],
) -> JobStatus:
    """Run a job this process has claimed with the pipeline of its name, record how it
    ended, and hand on the jobs that waited for it."""
    with ctx.db.read() as db:
        job = db.get(Job, job_id)
        assert job is not None
        project = db.get(Project, job.project_id)
        assert project is not None
        label = project.label
    workdir = ctx.store.tmp / f"job-{job_id}-{token[:8]}"
    workdir.mkdir(parents=True)
    run = JobRun(job_id, job.pipeline, dict(job.parameters), workdir, [], job.scan_id is None)
    run.ctx = ctx
    run.session_id = job.session_id
    run.versions["scandepot"] = __version__
    run.log(f"job {job_id}: {job.pipeline} on {label}/{job.target} (attempt {job.attempts})")
    beat = Heartbeat(ctx, job_id, token, run.stop)
    beat.start()
    ended: list[Job] = []
    try:
        status, message = _call(ctx, run, job, token, pipelines)
        if status is JobStatus.QUEUED:  # waits, its worker free (jobrun.Later)
            return status
        ended = _record(ctx, run, token, status, message)
    finally:
        beat.done.set()
        shutil.rmtree(workdir, ignore_errors=True)
    queue.announce_ended(ctx, label, ended)
    ready = queue.waiting_on(ctx, job_id)
    if ready:
        dispatch(ready)
    return JobStatus(ended[0].status) if ended else status


def _call(
    ctx: Context, run: JobRun, job: Job, token: str, pipelines: Pipelines
) -> tuple[JobStatus, str]:
    """Run the job's pipeline: how it ended, and what its record says. QUEUED: it asked to
    wait (:class:`Later`) and is queued again, to be claimed after the wait."""
    try:
        if job.pipeline not in SITE_TASKS:
            run.targets = _targets(ctx, job)
        pipelines[job.pipeline](run)
        run.check()
        status = JobStatus(run.report.pop("status", JobStatus.SUCCEEDED.value))
        message = str(run.report.pop("message", ""))
    except Later as exc:
        run.log(f"waiting {exc.seconds:g} s: {exc.reason}")
        if queue.later(ctx, run.job_id, token, exc.seconds, exc.reason, run.log_text):
            return JobStatus.QUEUED, exc.reason
        status, message = JobStatus.CANCELLED, "Cancelled while waiting."
    except Cancelled:
        status, message = JobStatus.CANCELLED, "Cancelled while running."
    except PipelineError as exc:
        status, message = JobStatus.FAILED, str(exc)
    except Exception as exc:  # noqa: BLE001 - a bug in a pipeline fails only its job
        status, message = JobStatus.FAILED, f"Internal error: {exc!r}"
        run.log(traceback.format_exc())
    if status is not JobStatus.SUCCEEDED:
        run.outputs.clear()
    run.log(f"{status.value}: {message}" if message else status.value)
    return status, message


def _record(ctx: Context, run: JobRun, token: str, status: JobStatus, message: str) -> list[Job]:
    ended: list[Job] = []

    def outcome(report: dict[str, Any]) -> Outcome:
        return Outcome(status, message, run.log_text, report, run.versions)

    def in_transaction(db: DBSession) -> None:
        job = queue.holds(db, run.job_id, token)
        if job.cancel_requested:
            raise Cancelled()
        ended.extend(queue.record_outcome(db, job, outcome({**run.report, "files": {}})))

    if run.outputs:
        try:
            files = outputs.publish(ctx, run.outputs, in_transaction=in_transaction)
        except Cancelled:
            status, message = JobStatus.CANCELLED, "Cancelled while running."
            ended = []
        except Exception as exc:  # noqa: BLE001 - recorded as the job's failure
            run.log(traceback.format_exc())
            status, message = JobStatus.FAILED, f"Publishing the outputs failed: {exc}"
            ended = []
        else:
            _set_files(ctx, run.job_id, files)
            for job in ended[:1]:
                job.outputs = {**job.outputs, "files": files}
            return ended
    return queue.finish(ctx, run.job_id, token, outcome(run.report)) or ended


def _set_files(ctx: Context, job_id: int, files: dict[str, list[str]]) -> None:
    with ctx.db.write() as db:
        job = db.get(Job, job_id)
        if job is not None:
            job.outputs = {**job.outputs, "files": files}
