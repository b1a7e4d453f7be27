"""A job as plain data, for the interfaces that show one (the API, ``scandepot job show``);
each adds its own links."""

from __future__ import annotations

from typing import Any

from scandepot.catalog.pipelines import Job
from scandepot.pipelines.autolaunch import waiting_until


def job_record(project: str, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "project": project,
        "pipeline": job.pipeline,
        "target": job.target,
        "parameters": job.parameters,
        "status": job.status,
        "message": job.message,
        "outputs": job.outputs,
        "versions": job.versions,
        "launched_by": job.launched_by,
        "after_job": job.after_job_id,
        "rerun_of": job.rerun_of,
        "attempts": job.attempts,
        "cancel_requested": job.cancel_requested,
        "worker": job.worker,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        # Auto-launched jobs wait for their session to be complete; ``message`` says why.
        "waiting_until": waiting_until(job),
    }
