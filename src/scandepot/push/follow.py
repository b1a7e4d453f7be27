"""Following pushes: one with its progress and report, a project's list, the instances of
one page by page, and cancelling.

A push is seen by whoever may read its project (and by its requester and site
administrators); it is cancelled by its requester or an owner of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, Level, level_on, require_signed_in
from scandepot.archive import projects
from scandepot.catalog.archive import Project
from scandepot.catalog.paging import Page, PageRequest, paginate
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.catalog.push import InstanceStatus, Push, PushInstance, PushStatus
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Forbidden, NotFound, Unauthorized
from scandepot.pipelines import queue

FINISHED = frozenset({PushStatus.SUCCEEDED, PushStatus.FAILED, PushStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class PushView:
    push: Push
    status: str  # the push's, or its job's when the job ended without it
    message: str
    counts: dict[str, int]  # instances by status

    @property
    def finished(self) -> bool:
        return self.status in {s.value for s in FINISHED}

    def progress(self) -> dict[str, Any]:
        total = self.push.instances_total
        pending = self.counts.get(InstanceStatus.PENDING.value, 0)
        return {"total": total, "done": total - pending, **self.counts}


def _load(
    db: DBSession, actor: Actor, push_id: int, level: Level, project: str | None = None
) -> Push:
    """The push (of ``project``, when given), for its requester, a site admin, or whoever
    has ``level`` on its project; hidden (404) from everyone else."""
    if actor.is_anonymous:
        raise Unauthorized()
    push = db.get(Push, push_id)
    if push is not None and project is not None and push.project.lower() != project.lower():
        push = None
    if push is not None and (actor.is_site_admin or push.user_id == actor.user_id):
        return push
    home = db.get(Project, push.project_id) if push and push.project_id else None
    have = level_on(db, actor, home) if home is not None else Level.NONE
    if push is not None and have >= level:
        return push
    if push is not None and have >= Level.READ:
        raise Forbidden("Only its requester and owners of its project may cancel a push.")
    raise NotFound(f"Push {push_id} not found.", field="push")


def _view(db: DBSession, push: Push) -> PushView:
    counts = dict(
        db.execute(
            select(PushInstance.status, func.count())
            .where(PushInstance.push_id == push.id)
            .group_by(PushInstance.status)
        ).all()
    )
    status, message = push.status, push.message
    job = db.get(Job, push.job_id) if push.job_id else None
    if status not in {s.value for s in FINISHED} and job is not None:
        ended = JobStatus(job.status)
        if ended.finished:  # the job ended without the task (cancelled queued, given up)
            status, message = ended.value, job.message
    return PushView(push, status, message, {str(k): int(v) for k, v in counts.items()})


def get(ctx: Context, actor: Actor, push_id: int, *, project: str | None = None) -> PushView:
    with ctx.db.read() as db:
        return _view(db, _load(db, actor, push_id, Level.READ, project))


def list_pushes(ctx: Context, actor: Actor, project: str, page: PageRequest) -> Page[Push]:
    require_signed_in(actor)
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        return paginate(
            db,
            select(Push).where(Push.project_id == proj.id),
            page,
            sort_fields={"id": Push.id, "created": Push.created_at, "status": Push.status},
            default_sort="-id",
            tiebreak=Push.id.desc(),
        )


def instances(
    ctx: Context,
    actor: Actor,
    push_id: int,
    page: PageRequest,
    *,
    status: InstanceStatus | None = None,
    project: str | None = None,
) -> Page[PushInstance]:
    with ctx.db.read() as db:
        push = _load(db, actor, push_id, Level.READ, project)
        stmt = select(PushInstance).where(PushInstance.push_id == push.id)
        if status:
            stmt = stmt.where(PushInstance.status == status.value)
        return paginate(
            db,
            stmt,
            page,
            sort_fields={"id": PushInstance.id, "status": PushInstance.status},
            default_sort="id",
            tiebreak=PushInstance.id,
        )


def cancel(ctx: Context, actor: Actor, push_id: int, *, project: str | None = None) -> PushView:
    """A queued push ends at once; a running one stops at its next check. What was sent
    stays sent, and the report says what."""
    ended: list[Job] = []
    with ctx.db.write() as db:
        push = _load(db, actor, push_id, Level.MANAGE, project)
        view = _view(db, push)
        if view.finished:
            raise Conflict(f"Push {push_id} has already {view.status}.", field="push")
        job = db.get(Job, push.job_id) if push.job_id else None
        when = "while it waited to try again" if push.started_at else "before it started"
        note = f"Cancelled by {actor.login} {when}."
        if job is not None and job.status == JobStatus.QUEUED.value:
            ended = queue.cancel_queued(db, job, note)
            push.status, push.message, push.finished_at = PushStatus.CANCELLED.value, note, utcnow()
        elif job is not None:
            job.cancel_requested = True
        audit.record(
            db, actor, AuditAction.PUSH_CANCELLED, project=push.project, target=f"push {push.id}"
        )
        db.flush()
        view = _view(db, push)
    queue.announce_ended(ctx, push.project, ended)
    return view
