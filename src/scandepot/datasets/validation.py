"""Validation of a released version, run automatically at release as a job in the one
queue and shown to the curator (docs/dataset-access.md, "Validation").

Four checks, each with its outcome, what it checked, how many problems it found and the
first of them itemised (:mod:`.validation_report`):

- every DICOM instance de-identified (:mod:`.validation_deid`);
- the clinical variables each subject's (and session's) project requires, present;
- no subject or session of the release without images;
- every file's size and SHA-256 as the manifest says, read from the archive's file the
  manifest points to (:mod:`.validation_files`).

:func:`start` queues the job in the release's transaction. The job streams the manifest
a page at a time and records where it is after each few seconds, so a job killed and
taken again by the queue goes on from there, never counting a file twice; once finished
(``validation`` passed or failed, and the ``validation_finished`` step recorded) it does
nothing again.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.datasets import DatasetAction, load_version, may
from scandepot.catalog.archive import Project
from scandepot.catalog.datasets import (
    Dataset,
    DatasetFile,
    DatasetVersion,
    ValidationState,
    VersionState,
)
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.context import Context
from scandepot.datasets import lifecycle, manifest_rows, validation_catalog, validation_files
from scandepot.datasets.validation_deid import DeidCheck
from scandepot.datasets.validation_report import Progress, queued
from scandepot.errors import Conflict, Forbidden, NotFound, Unauthorized
from scandepot.events import JobQueued
from scandepot.pipelines import jobs
from scandepot.pipelines.jobrun import JobRun, PipelineError

TASK = "dataset_validation"  # Job.pipeline (pipelines.jobrun.SITE_TASKS)
CHECKPOINT_S = 5.0  # at most this long between two records of where the job is


def start(db: DBSession, version: DatasetVersion) -> None:
    """In the caller's transaction (the release's): validation pending, its job queued.
    A job belongs to a project: that of the manifest's first file (every file of the
    release is read under the system's rights, whatever its project)."""
    dataset = db.get(Dataset, version.dataset_id)
    assert dataset is not None
    first = db.scalar(
        select(DatasetFile.project_id)
        .where(DatasetFile.version_id == version.id)
        .order_by(DatasetFile.id)
        .limit(1)
    )
    project = db.get(Project, first) if first is not None else None
    version.validation = ValidationState.PENDING.value
    if project is None:  # nothing to read: failed at once (a release is never empty)
        progress = Progress(None, catalog_done=True)
        progress.checks["checksums"].problem(path="", reason="the release holds no files")
        _outcome(db, dataset, version, progress)
        return
    job = jobs.new_task(
        db,
        project,
        TASK,
        {"version": version.id},
        f"dataset {dataset.stable_id} v{version.number}",
        launched_by=SYSTEM.login,
    )
    version.validation_report = queued(job.id)
    db.flush()


def announce(ctx: Context, version_id: int) -> None:
    """Wake the executors for a validation queued by :func:`start`, once committed (they
    find it within their poll time otherwise)."""
    with ctx.db.read() as db:
        version = db.get(DatasetVersion, version_id)
        report = (version.validation_report if version is not None else None) or {}
        job = db.get(Job, report.get("job") or 0)
        project = db.get(Project, job.project_id) if job is not None else None
    if job is not None and project is not None:
        ctx.events.publish(JobQueued(job.id, job.pipeline, project.label))


def run(run: JobRun) -> None:
    """The job: every check, then the outcome."""
    job, ctx = run, run.ctx
    assert ctx is not None
    version_id = int(job.parameters["version"])
    progress = _begin(ctx, job.job_id, version_id)
    if progress is None:
        job.log(f"version {version_id}: validated already, or gone")
        return
    if not progress.catalog_done:
        with ctx.db.read() as db:
            subjects, sessions = validation_catalog.held(db, version_id)
            validation_catalog.check_images(subjects, sessions, progress)
            validation_catalog.check_clinical(db, subjects, sessions, progress)
        progress.catalog_done = True
        _save(ctx, version_id, progress)
    _files(ctx, job, version_id, progress)
    _finish(ctx, version_id, progress)
    job.log(
        f"{progress.files_checked} files checked ({progress.bytes_checked} bytes) in "
        f"{progress.seconds:.1f} s: " + ("passed" if progress.passed else "failed")
    )
    job.report["validation"] = "passed" if progress.passed else "failed"


def _begin(ctx: Context, job_id: int, version_id: int) -> Progress | None:
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, version_id)
        if version is None or version.validation != ValidationState.PENDING:
            return None
        progress = Progress.resumed(job_id, version.validation_report)
        if progress.files_total == 0:
            progress.files_total = int(
                db.scalar(
                    select(func.count(DatasetFile.id)).where(DatasetFile.version_id == version_id)
                )
                or 0
            )
        version.validation_report = progress.to_json(done=False)
    return progress


def _save(ctx: Context, version_id: int, progress: Progress) -> None:
    """Where the job is, in a transaction of its own; the job stops when another took
    the version's validation over (a new release, a second job)."""
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, version_id)
        if version is None or version.validation != ValidationState.PENDING:
            raise PipelineError("The version's validation ended meanwhile.")
        if (version.validation_report or {}).get("job") != progress.job:
            raise PipelineError("Another job validates this version now.")
        version.validation_report = progress.to_json(done=False)


def _files(ctx: Context, job: JobRun, version_id: int, progress: Progress) -> None:
    deid = DeidCheck(ctx)
    saved = time.monotonic()
    for page in manifest_rows.pages(ctx, version_id, progress.cursor):
        job.check()
        began = time.monotonic()
        validation_files.check_page(page, deid, progress)
        progress.seconds += time.monotonic() - began
        if time.monotonic() - saved >= CHECKPOINT_S:
            _save(ctx, version_id, progress)
            saved = time.monotonic()


def _finish(ctx: Context, version_id: int, progress: Progress) -> None:
    """The outcome and the report, and the step recorded, in one transaction."""
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, version_id)
        if version is None or version.validation != ValidationState.PENDING:
            return
        dataset = db.get(Dataset, version.dataset_id)
        assert dataset is not None
        _outcome(db, dataset, version, progress)


def _outcome(db: DBSession, dataset: Dataset, version: DatasetVersion, progress: Progress) -> None:
    outcome = ValidationState.PASSED if progress.passed else ValidationState.FAILED
    version.validation = outcome.value
    version.validation_report = progress.to_json(done=True)
    problems = {name: t.problems for name, t in progress.checks.items()}
    lifecycle.record(
        db,
        SYSTEM,
        dataset,
        version,
        "validation_finished",
        details={"outcome": outcome.value, "files": progress.files_checked, "problems": problems},
    )


def _may_read(db: DBSession, actor: Actor, dataset: Dataset, version: DatasetVersion) -> None:
    if not (
        may(db, actor, DatasetAction.EDIT, dataset, version)
        or may(db, actor, DatasetAction.CURATE, dataset, version)
    ):
        if actor.is_anonymous:
            raise Unauthorized()
        raise Forbidden("Only the dataset's owners and curators may read or run its validation.")


def _job(db: DBSession, version: DatasetVersion) -> Job | None:
    found = (version.validation_report or {}).get("job")
    return db.get(Job, found) if isinstance(found, int) else None


def report(ctx: Context, actor: Actor, ref: str, number: int) -> dict[str, Any]:
    """The validation's outcome and report, for the dataset's owners and the curators;
    with its job's status (a job cancelled or failed leaves the validation pending: it is
    run again with :func:`again`)."""
    with ctx.db.read() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
        _may_read(db, actor, dataset, version)
        if version.validation is None:
            raise NotFound(
                f"Version {number} of '{dataset.stable_id}' has not been released; "
                "nothing was validated.",
                field="version",
            )
        job = _job(db, version)
        return {
            "dataset": dataset.stable_id,
            "version": version.number,
            "validation": version.validation,
            "job": None
            if job is None
            else {"id": job.id, "status": job.status, "message": job.message},
            "report": version.validation_report or {},
        }


def again(ctx: Context, actor: Actor, ref: str, number: int) -> dict[str, Any]:
    """Run a released version's validation again (its owners or a curator): after its
    job was cancelled or failed, or once the archive's files or the clinical records were
    put right. Not while it runs, nor once a curator decided."""
    with ctx.db.write() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW, lock=True)
        _may_read(db, actor, dataset, version)
        if version.state != VersionState.RELEASED:
            raise Conflict(
                f"Version {number} of '{dataset.stable_id}' is {version.state}: only a "
                "released version awaiting its curator is validated again.",
                field="version",
            )
        job = _job(db, version)
        if job is not None and not JobStatus(job.status).finished:
            raise Conflict(
                f"The validation of version {number} runs already (job {job.id}).",
                field="version",
            )
        start(db, version)
        made = _job(db, version)
        lifecycle.record(
            db,
            actor,
            dataset,
            version,
            "validation_started",
            details={"job": made.id if made is not None else None},
        )
        version_id = version.id
    announce(ctx, version_id)
    return report(ctx, actor, ref, number)
