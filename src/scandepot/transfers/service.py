"""Copies and moves as people ask for them: check, start, follow, cancel.

:func:`check` makes the plan and writes nothing (``--dry-run``); :func:`start` makes it
again, refuses it with every problem listed, or writes the transfer, its items and its
job in one transaction. The job (task.py) does the rest in the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Level, level_on, permission_clause, require_signed_in
from scandepot.catalog.archive import Project
from scandepot.catalog.paging import Page, PageRequest, paginate
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.catalog.transfers import (
    ItemStatus,
    Transfer,
    TransferItem,
    TransferStatus,
)
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Forbidden, NotFound, Unauthorized
from scandepot.pipelines import jobs, queue
from scandepot.transfers import labels, plan
from scandepot.transfers.plan import Plan
from scandepot.transfers.requests import TransferRequest

TASK = "transfer"  # Job.pipeline of a transfer's job (pipelines.jobrun.SITE_TASKS)
FINISHED = frozenset({TransferStatus.SUCCEEDED, TransferStatus.FAILED, TransferStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class TransferView:
    transfer: Transfer
    items: list[TransferItem]
    status: str  # the transfer's, or its job's when the job ended without it
    message: str

    @property
    def finished(self) -> bool:
        return TransferStatus(self.status) in FINISHED

    @property
    def verified(self) -> bool:
        return self.status == TransferStatus.SUCCEEDED.value and all(
            i.status
            in {ItemStatus.VERIFIED.value, ItemStatus.DELETED.value, ItemStatus.SKIPPED.value}
            for i in self.items
        )


def check(ctx: Context, actor: Actor, request: TransferRequest) -> Plan:
    """The plan of ``request``: what would go where, and every problem; writes nothing."""
    require_signed_in(actor)
    labels.check_rules(request)
    with ctx.db.read() as db:
        return plan.make(db, actor, request)


def refused(found: Plan) -> Conflict:
    return Conflict(
        f"The transfer was not started: {len(found.problems)} problem(s) found. "
        + " ".join(p.message for p in found.problems[:5]),
        field="transfer",
        # The one shape of itemised errors ({"name", "reason"}), with the problem's kind.
        details=[
            {"name": p.session or found.source, "reason": p.message, "code": p.code}
            for p in found.problems
        ],
    )


def start(ctx: Context, actor: Actor, request: TransferRequest) -> TransferView:
    """Check ``request`` and queue it; raises :class:`Conflict` listing every problem."""
    require_signed_in(actor)
    labels.check_rules(request)
    with ctx.db.write() as db:
        found = plan.make(db, actor, request)
        if not found.ok:
            raise refused(found)
        source = db.scalar(select(Project).where(Project.label == found.source))
        dest = db.scalar(select(Project).where(Project.label == found.destination))
        assert source is not None and dest is not None
        transfer = Transfer(
            kind=request.kind.value,
            source_project_id=source.id,
            dest_project_id=dest.id,
            source=source.label,
            destination=dest.label,
            # Where it lands is decided once, by the check: a resumed run goes by it.
            request={**request.model_dump(mode="json"), "landing": found.landing},
            status=TransferStatus.QUEUED.value,
            message="",
            files_total=found.files,
            files_done=0,
            report={"check": found.to_json()},
            user_id=actor.user_id,
            requested_by=actor.login,
        )
        db.add(transfer)
        db.flush()
        items = _items(db, transfer, found)
        job = jobs.new_task(
            db,
            source,
            TASK,
            {"transfer": transfer.id},
            f"transfer {transfer.id}",
            launched_by=actor.login,
        )
        transfer.job_id = job.id
        audit.record(
            db,
            actor,
            AuditAction.TRANSFER_STARTED,
            project=source.label,
            target=f"transfer {transfer.id}",
            kind=transfer.kind,
            destination=dest.label,
            sessions=len(items),
            files=found.files,
            deidentify=request.deidentify or None,
        )
    jobs.announce_queued(ctx, source.label, [job])
    return TransferView(transfer, items, transfer.status, "")


def _items(db: DBSession, transfer: Transfer, found: Plan) -> list[TransferItem]:
    items = []
    for position, planned in enumerate(found.sessions):
        skipped = planned.action == "skip"
        items.append(
            TransferItem(
                transfer_id=transfer.id,
                position=position,
                source_session_id=planned.session_id,
                source_subject=planned.source_subject,
                source_session=planned.source_session,
                dest_subject=planned.dest_subject,
                dest_session=planned.dest_session,
                status=(ItemStatus.SKIPPED if skipped else ItemStatus.PENDING).value,
                files=0,
                verified={"action": planned.action},
            )
        )
    db.add_all(items)
    db.flush()
    return items


def _load(db: DBSession, actor: Actor, transfer_id: int, level: Level) -> Transfer:
    """The transfer, for its requester, a site admin, or whoever has ``level`` on its
    source or destination; hidden (404) from everyone else."""
    if actor.is_anonymous:
        raise Unauthorized()
    transfer = db.get(Transfer, transfer_id)
    if transfer is not None and (actor.is_site_admin or transfer.user_id == actor.user_id):
        return transfer
    best = Level.NONE
    if transfer is not None:
        for project_id in (transfer.source_project_id, transfer.dest_project_id):
            project = db.get(Project, project_id) if project_id else None
            if project is not None:
                best = max(best, level_on(db, actor, project))
    if transfer is not None and best >= level:
        return transfer
    if transfer is not None and best >= Level.READ:
        raise Forbidden("Only its requester and owners of its projects may change a transfer.")
    raise NotFound(f"Transfer {transfer_id} not found.", field="transfer")


def _view(db: DBSession, transfer: Transfer) -> TransferView:
    items = list(
        db.scalars(
            select(TransferItem)
            .where(TransferItem.transfer_id == transfer.id)
            .order_by(TransferItem.position)
        )
    )
    status, message = transfer.status, transfer.message
    job = db.get(Job, transfer.job_id) if transfer.job_id else None
    if TransferStatus(status) not in FINISHED and job is not None:
        ended = JobStatus(job.status)
        if ended.finished:  # the job ended without the task (cancelled queued, given up)
            status, message = ended.value, job.message
    return TransferView(transfer, items, status, message)


def get(ctx: Context, actor: Actor, transfer_id: int) -> TransferView:
    with ctx.db.read() as db:
        return _view(db, _load(db, actor, transfer_id, Level.READ))


def list_transfers(
    ctx: Context, actor: Actor, page: PageRequest, *, project: str | None = None
) -> Page[Transfer]:
    """The transfers the actor asked for, or from or into projects it may read."""
    require_signed_in(actor)
    with ctx.db.read() as db:
        readable = select(Project.id).where(permission_clause(actor, Level.READ))
        stmt = select(Transfer).where(
            or_(
                Transfer.user_id == actor.user_id,
                Transfer.source_project_id.in_(readable),
                Transfer.dest_project_id.in_(readable),
            )
        )
        if project:
            stmt = stmt.where(or_(Transfer.source == project, Transfer.destination == project))
        return paginate(
            db,
            stmt,
            page,
            sort_fields={"id": Transfer.id},
            default_sort="-id",
            tiebreak=Transfer.id.desc(),
        )


def cancel(ctx: Context, actor: Actor, transfer_id: int) -> TransferView:
    """A queued transfer ends at once; a running one stops at its next check. What was
    committed stays, and the report says what; a move's source is never deleted after
    a cancel."""
    ended: list[Job] = []
    with ctx.db.write() as db:
        transfer = _load(db, actor, transfer_id, Level.MANAGE)
        view = _view(db, transfer)
        if view.finished:
            raise Conflict(f"Transfer {transfer_id} has already {view.status}.", field="transfer")
        job = db.get(Job, transfer.job_id) if transfer.job_id else None
        if job is not None and job.status == JobStatus.QUEUED.value:
            ended = queue.cancel_queued(db, job, f"Cancelled by {actor.login} before it started.")
            finish(
                transfer, TransferStatus.CANCELLED, f"Cancelled by {actor.login} before it started."
            )
        elif job is not None:
            job.cancel_requested = True
        audit.record(
            db,
            actor,
            AuditAction.TRANSFER_CANCELLED,
            project=transfer.source,
            target=f"transfer {transfer.id}",
        )
        view = _view(db, transfer)
    queue.announce_ended(ctx, transfer.source, ended)
    return view


def finish(transfer: Transfer, status: TransferStatus, message: str, **report: Any) -> None:
    transfer.status, transfer.message = status.value, message[:1024]
    transfer.finished_at = utcnow()
    transfer.report = {**transfer.report, **report}
