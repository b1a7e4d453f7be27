"""A push's job: reach the destination, send what is pending, check what arrived, report.

Run by the one job queue (``Job.pipeline == "push"``), in the server's pool or a Celery
worker. Each instance's outcome is committed as it comes, so a job killed half-way and
claimed again goes on from the instances still pending, and sends none the far side
says it holds already (deliver.py). A destination that cannot be reached at the start is
tried again with back-off (``destination.max_attempts`` times). The push succeeds when
every instance was found on the far side by the final check (verify.py) or was refused
by the script, and the report lists the rest with their reasons.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select

from scandepot.access.permissions import Action, level_on
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.push import (
    Push,
    PushDestination,
    PushDestinationProject,
    PushInstance,
    PushStatus,
)
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.export.deidentified import Deidentifier
from scandepot.pipelines.jobrun import Cancelled, JobRun, Later, PipelineError
from scandepot.push import clinical_along, deliver, outgoing, report, script, tries, verify
from scandepot.push.sending import Sender, Unreachable

log = logging.getLogger("scandepot.push")


def open_sender(ctx: Context, destination: PushDestination) -> Sender:
    # Imported here: the senders load their network libraries only in jobs that send.
    from scandepot.push import destinations

    return destinations.open_sender(ctx, destination)


def run(run: JobRun) -> None:
    job, ctx = run, run.ctx
    assert ctx is not None
    push_id = int(job.parameters["push"])
    started = time.monotonic()
    try:
        status, message, found = _run(ctx, job, push_id)
    except Later as exc:
        report.waiting(ctx, push_id, exc.seconds, exc.reason)
        raise
    except Cancelled:
        report.end(ctx, push_id, PushStatus.CANCELLED, "Cancelled while running.", {}, started)
        raise
    except PipelineError as exc:
        report.end(ctx, push_id, PushStatus.FAILED, str(exc), {}, started)
        raise
    except Exception as exc:
        message = f"Stopped by an error: {exc}"
        report.end(ctx, push_id, PushStatus.FAILED, message, {}, started)
        raise PipelineError(message) from exc
    report.end(ctx, push_id, status, message, found, started)
    if status is not PushStatus.SUCCEEDED:
        raise PipelineError(message)


def _run(ctx: Context, job: JobRun, push_id: int) -> tuple[PushStatus, str, dict[str, Any]]:
    dest, deid = _begin(ctx, job, push_id)
    timings: dict[str, float] = {}
    mark = time.monotonic()
    sender = open_sender(ctx, dest)
    retry_s = ctx.settings.push_retry_s
    try:
        _connect(ctx, job, push_id, sender, dest)
        timings["connect_s"] = time.monotonic() - mark
        mark = time.monotonic()
        tally = deliver.deliver(
            ctx,
            job,
            push_id,
            sender,
            deid,
            threads=dest.concurrency,
            max_attempts=dest.max_attempts,
            retry_s=retry_s,
            on_round=lambda n, left: job.log(f"round {n}: {left} instance(s) to send"),
        )
        timings["send_s"] = time.monotonic() - mark
        report.fail_gone(ctx, push_id, outgoing.gone(ctx, push_id))
        mark = time.monotonic()
        verified, missing = verify.verify(
            ctx, job, push_id, sender, max_attempts=dest.max_attempts, retry_s=retry_s
        )
        timings["verify_s"] = time.monotonic() - mark
        clinical = clinical_along.carry(ctx, job, push_id, dest, deid, retry_s=retry_s)
    finally:
        sender.close()
    job.log(
        f"sent {tally.sent} ({tally.bytes_sent} bytes), {tally.present} already there, "
        f"{tally.refused} refused, {tally.retried} retried; verified {verified}, "
        f"{missing} missing"
    )
    return report.outcome(ctx, push_id, tally, timings, clinical)


def _begin(ctx: Context, job: JobRun, push_id: int) -> tuple[PushDestination, Deidentifier | None]:
    """The push marked running, its rights checked again (they may have changed since
    it was asked for), and its script chosen again."""
    with ctx.db.write() as db:
        push = db.get(Push, push_id)
        if push is None:
            raise PipelineError(f"Push {push_id} is gone.")
        user = db.get(User, push.user_id) if push.user_id else None
        if user is None or not user.enabled:
            raise PipelineError(f"The account of {push.requested_by} is gone or disabled.")
        project = db.get(Project, push.project_id) if push.project_id else None
        dest = db.get(PushDestination, push.destination_id) if push.destination_id else None
        if project is None or dest is None:
            raise PipelineError("The project or the destination was deleted.")
        if not dest.enabled or db.get(PushDestinationProject, (dest.id, project.id)) is None:
            raise PipelineError(
                f"Destination '{dest.name}' is turned off or no longer takes this project."
            )
        if level_on(db, actor_for(user), project) < Action.DOWNLOAD.level:
            raise PipelineError(f"{user.login} may no longer send data out of {project.label}.")
        allow = bool(push.request.get("allow_burned_in", False))
        try:
            deid = script.deidentifier(db, dest, project.id, project.label, allow_burned_in=allow)
        except Exception as exc:
            raise PipelineError(str(exc)) from exc
        _same_script(db, push, deid)
        push.status = PushStatus.RUNNING.value
        push.started_at = push.started_at or utcnow()
        db.flush()
        db.expunge(dest)
    job.log(f"push {push_id}: {push.project} to {dest.name} ({push.script or 'no script'})")
    return dest, deid


def _same_script(db: Any, push: Push, deid: Deidentifier | None) -> None:
    """A push resumed must run the script it began with: the UIDs it recorded and asks
    the far side about came from it."""
    label = deid.script_label if deid is not None else ""
    if label == push.script:
        return
    begun = db.scalar(
        select(PushInstance.id)
        .where(PushInstance.push_id == push.id, PushInstance.sop_uid != "")
        .limit(1)
    )
    if begun is not None:
        raise PipelineError(
            f"The script changed since this push began ({push.script or 'none'} -> "
            f"{label or 'none'}); start a new push."
        )
    push.script = label


def _connect(
    ctx: Context, job: JobRun, push_id: int, sender: Sender, dest: PushDestination
) -> None:
    """Reach the destination, trying again with back-off while it cannot be reached (the
    tries in a row counted on the push: tries.py)."""
    while True:
        job.check()
        try:
            sender.check()
        except Unreachable as exc:
            tries.again(
                ctx,
                job,
                push_id,
                tries.REACH,
                max_attempts=dest.max_attempts,
                retry_s=ctx.settings.push_retry_s,
                failed=f"Destination '{dest.name}' could not be reached",
                reason=exc.reason,
            )
            continue
        tries.count(ctx, push_id, tries.REACH, 0)
        return
