"""A transfer's job: copy each item, verify, and (for a move) delete the source.

Run by the one job queue (``Job.pipeline == "transfer"``), in the server's pool or a
Celery worker. Each item commits on its own, so a job killed half-way and claimed again
goes on from the first item not done; a journal left by the killed run is undone first.
The source of a move is deleted only once every item was verified from the catalog and
from the bytes; a cancel or a failure before that leaves it whole.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, level_on
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project, Session
from scandepot.catalog.transfers import (
    ItemStatus,
    Transfer,
    TransferItem,
    TransferKind,
    TransferStatus,
)
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.pipelines.jobrun import Cancelled, JobRun, PipelineError
from scandepot.transfers import (
    copying,
    deid_landing,
    deidentified,
    moving,
    project_resources,
    staging,
    verify,
)
from scandepot.transfers.requests import Landing, TransferRequest
from scandepot.transfers.service import finish

log = logging.getLogger("scandepot.transfers")


def run(run: JobRun) -> None:
    job, ctx = run, run.ctx
    assert ctx is not None
    transfer_id = int(job.parameters["transfer"])
    try:
        _run(ctx, job, transfer_id)
    except Cancelled:
        _end(ctx, transfer_id, TransferStatus.CANCELLED, "Cancelled while running.")
        raise
    except PipelineError as exc:
        _end(ctx, transfer_id, TransferStatus.FAILED, str(exc))
        raise
    except Exception as exc:
        _end(ctx, transfer_id, TransferStatus.FAILED, f"Stopped by an error: {exc}")
        raise PipelineError(f"Stopped by an error: {exc}") from exc


def _run(ctx: Context, job: JobRun, transfer_id: int) -> None:
    transfer, items, actor = _begin(ctx, job, transfer_id)
    request = TransferRequest.model_validate(transfer.request)
    for item in items:
        copying.settle_journal(ctx, item)
    if request.with_resources:
        job.check()
        done = project_resources.copy(ctx, transfer_id)
        job.log(f"project resources: {done['copied'] or 'none'} copied")
    deid = deidentified.deidentifier(ctx, transfer) if request.deidentify else None
    for item in items:
        if item.status == ItemStatus.PENDING.value:
            job.check()
            if deid is not None:
                copied = deid_landing.copy_item(ctx, deid, transfer, item)
            elif request.landing is Landing.PREARCHIVE:
                copied = staging.stage_item(ctx, transfer, item)
            else:
                copied = copying.copy_item(ctx, transfer, item)
            job.log(f"{_names(item)}: {copied.files} files copied")
            if copied.event is not None:  # pipelines, pictures: as on any archive
                ctx.events.publish(copied.event)
    items = _items(ctx, transfer_id)
    move = request.kind is TransferKind.MOVE
    failed = _verify(ctx, job, items, read_bytes=move, deid=request.deidentify)
    if request.with_resources and not _verify_project(ctx, transfer_id, read_bytes=move):
        failed.append("the project's resources")
    if failed:
        raise PipelineError(
            f"Verification failed for {', '.join(failed)}"
            + ("; the source was not deleted." if move else ".")
        )
    if move:
        _delete_sources(ctx, job, transfer, request, actor)
    _end(ctx, transfer_id, TransferStatus.SUCCEEDED, _summary(_items(ctx, transfer_id), move))


def _begin(
    ctx: Context, job: JobRun, transfer_id: int
) -> tuple[Transfer, list[TransferItem], Actor]:
    with ctx.db.write() as db:
        transfer = db.get(Transfer, transfer_id)
        if transfer is None:
            raise PipelineError(f"Transfer {transfer_id} is gone.")
        user = db.get(User, transfer.user_id) if transfer.user_id else None
        if user is None or not user.enabled:
            raise PipelineError(f"The account of {transfer.requested_by} is gone or disabled.")
        actor = actor_for(user)
        _still_allowed(db, actor, transfer)
        transfer.status = TransferStatus.RUNNING.value
        transfer.started_at = transfer.started_at or utcnow()
        db.flush()
        db.expunge(transfer)
    job.log(
        f"transfer {transfer_id}: {transfer.kind} from {transfer.source} to {transfer.destination}"
    )
    return transfer, _items(ctx, transfer_id), actor


def _still_allowed(db: Any, actor: Actor, transfer: Transfer) -> None:
    """Rights are checked again as the job runs: they may have changed since the check."""
    source = db.get(Project, transfer.source_project_id) if transfer.source_project_id else None
    dest = db.get(Project, transfer.dest_project_id) if transfer.dest_project_id else None
    if source is None or dest is None:
        raise PipelineError("The source or the destination project was deleted.")
    need = Action.DELETE if transfer.kind == TransferKind.MOVE.value else Action.READ
    if level_on(db, actor, source) < need.level or level_on(db, actor, dest) < Action.UPLOAD.level:
        raise PipelineError(f"{actor.login} may no longer do this transfer.")


def _items(ctx: Context, transfer_id: int) -> list[TransferItem]:
    with ctx.db.read() as db:
        rows = list(
            db.scalars(
                select(TransferItem)
                .where(TransferItem.transfer_id == transfer_id)
                .order_by(TransferItem.position)
            )
        )
        for row in rows:
            db.expunge(row)
        return rows


def _verify(
    ctx: Context, job: JobRun, items: list[TransferItem], *, read_bytes: bool, deid: bool
) -> list[str]:
    failed: list[str] = []
    for item in items:
        if item.status != ItemStatus.COPIED.value:
            continue
        job.check()
        found = (
            deidentified.compare_item(ctx, item)
            if deid
            else verify.compare_item(ctx, item, read_bytes=read_bytes)
        )
        with ctx.db.write() as db:
            row = db.get(TransferItem, item.id)
            assert row is not None
            row.verified = {**row.verified, "compared": found.to_json()}
            if found.ok:
                row.status = ItemStatus.VERIFIED.value
        if not found.ok:
            failed.append(f"{item.source_subject}/{item.source_session}")
        outcome = "ok" if found.ok else "; ".join(found.mismatches)
        job.log(f"{_names(item)}: {found.files} files compared by {'+'.join(found.by)}: {outcome}")
    return failed


def _verify_project(ctx: Context, transfer_id: int, *, read_bytes: bool) -> bool:
    with ctx.db.write() as db:
        transfer = db.get(Transfer, transfer_id)
        assert transfer is not None
        found = project_resources.compare(ctx, transfer, read_bytes=read_bytes)
        done = dict(transfer.report.get(project_resources.DONE, {}))
        transfer.report = {
            **transfer.report,
            project_resources.DONE: {**done, "compared": found.to_json()},
        }
    return found.ok


def _delete_sources(
    ctx: Context, job: JobRun, transfer: Transfer, request: TransferRequest, actor: Actor
) -> None:
    subjects: set[int] = set()
    copied: set[str] = set()
    for item in _items(ctx, transfer.id):
        if item.status != ItemStatus.VERIFIED.value:
            continue
        job.check()
        with ctx.db.read() as db:
            session = db.get(Session, item.source_session_id) if item.source_session_id else None
            if session is not None and session.subject.label.lower() in {
                s.lower() for s in request.subjects
            }:
                subjects.add(session.subject_id)
        kept = moving.delete_source(ctx, actor, item, project=transfer.source)
        copied |= set(item.verified.get("copied", []))
        job.log(
            f"{item.source_session}: deleted from {transfer.source}"
            + (f"; kept {', '.join(kept)}" if kept else "")
        )
    for subject_id in subjects:
        moving.delete_subject_if_empty(ctx, actor, subject_id, copied, project=transfer.source)


def _names(item: TransferItem) -> str:
    return f"{item.source_subject}/{item.source_session} -> {item.dest_subject}/{item.dest_session}"


def _summary(items: list[TransferItem], move: bool) -> str:
    done = [i for i in items if i.status != ItemStatus.SKIPPED.value]
    files = sum(i.files for i in done)
    what = "moved" if move else "copied"
    skipped = len(items) - len(done)
    refused = sum(len(i.verified.get("refused", [])) for i in items)
    return (
        f"{len(done)} session(s), {files} file(s) {what} and verified"
        + (" (de-identified)" if any(i.verified.get("deidentified") for i in items) else "")
        + (f"; {skipped} skipped" if skipped else "")
        + (f"; {refused} instance(s) refused by de-identification" if refused else "")
        + "."
    )


def _end(ctx: Context, transfer_id: int, status: TransferStatus, message: str) -> None:
    with ctx.db.write() as db:
        transfer = db.get(Transfer, transfer_id)
        if transfer is None:
            return
        items = list(
            db.scalars(select(TransferItem).where(TransferItem.transfer_id == transfer_id))
        )
        finish(transfer, status, message, items=[_item_report(i) for i in items])
        user = db.get(User, transfer.user_id) if transfer.user_id else None
        actor = actor_for(user) if user is not None else Actor(None, transfer.requested_by)
        audit.record(
            db,
            actor,
            AuditAction.TRANSFER_FINISHED,
            project=transfer.source,
            target=f"transfer {transfer.id}",
            status=status.value,
            sessions=len(items),
            files=transfer.files_done,
            verified=sum(
                i.status in {ItemStatus.VERIFIED.value, ItemStatus.DELETED.value} for i in items
            ),
            deleted=sum(i.status == ItemStatus.DELETED.value for i in items),
        )


def _item_report(item: TransferItem) -> dict[str, Any]:
    return {
        "source": f"{item.source_subject}/{item.source_session}",
        "destination": f"{item.dest_subject}/{item.dest_session}",
        "status": item.status,
        "files": item.files,
        **item.verified,
    }
