"""Asking for a push: checked, recorded and queued in one transaction.

:func:`request_push` refuses what cannot go (a destination that does not exist, is off,
or does not take the project; a session or subject not in the project; no script for an
external destination) with a clear error, and otherwise writes the push, one
:class:`~scandepot.catalog.push.PushInstance` per archived DICOM instance of the chosen
sessions, and its job. A destination's pushes run one after the other: the job waits for
the end of the push queued before it to the same destination (however that one ends).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, require_signed_in
from scandepot.archive import projects, selections
from scandepot.catalog.archive import Project, Scan, Session, Subject
from scandepot.catalog.labels import same_label
from scandepot.catalog.pipelines import Job
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.push import (
    InstanceStatus,
    Push,
    PushDestination,
    PushDestinationProject,
    PushInstance,
    PushStatus,
)
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound
from scandepot.pipelines import jobs, queue
from scandepot.push import script

TASK = "push"  # Job.pipeline of a push's job (pipelines.jobrun.SITE_TASKS)
MAX_ITEMS = 10_000


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destination: str = Field(max_length=64, description="The destination's name.")
    sessions: list[str] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Session labels in the project."
    )
    subjects: list[str] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        description="Subject labels in the project: every session of each.",
    )
    selection: str | None = Field(
        default=None,
        max_length=64,
        description="A saved selection of the project, by name: its sessions too.",
    )
    allow_burned_in: bool = Field(
        default=False,
        description="Let out instances that may show burned-in annotation (refused by "
        "default, as for de-identified downloads).",
    )


def _destination(db: DBSession, project: Project, name: str) -> PushDestination:
    dest = db.scalar(select(PushDestination).where(PushDestination.name == name))
    if dest is None:
        raise NotFound(f"Push destination '{name}' not found.", field="destination")
    if not dest.enabled:
        raise Conflict(
            f"Push destination '{name}' is turned off; a site administrator turns it on.",
            field="destination",
        )
    allowed = db.get(PushDestinationProject, (dest.id, project.id))
    if allowed is None:
        raise Forbidden(
            f"Project '{project.label}' may not push to '{name}'; a site administrator "
            "allows it in the destination's settings."
        )
    return dest


def _missing(wanted: Sequence[str], found: Sequence[str]) -> list[str]:
    have = {f.lower() for f in found}
    return [w for w in wanted if w.lower() not in have]


def _sessions(db: DBSession, project: Project, request: PushRequest) -> list[Session]:
    """The chosen sessions of the project (those named, those of the subjects named and
    those of the selection), in label order; NotFound naming every label that is not
    there."""
    if not request.sessions and not request.subjects and request.selection is None:
        raise Invalid(
            "Choose at least one session, subject or saved selection to push.", field="sessions"
        )
    chosen: dict[int, Session] = {}
    if request.sessions:
        rows = db.scalars(
            select(Session).where(
                Session.project_id == project.id,
                func.lower(Session.label).in_([s.lower() for s in request.sessions]),
            )
        ).all()
        missing = _missing(request.sessions, [r.label for r in rows])
        if missing:
            raise NotFound(
                f"Session(s) not found in project '{project.label}': {', '.join(missing[:20])}.",
                field="sessions",
            )
        chosen.update((r.id, r) for r in rows)
    for label in request.subjects:
        subject = db.scalar(
            select(Subject).where(
                Subject.project_id == project.id, same_label(Subject.label, label)
            )
        )
        if subject is None:
            raise NotFound(
                f"Subject '{label}' not found in project '{project.label}'.", field="subjects"
            )
        rows = db.scalars(select(Session).where(Session.subject_id == subject.id)).all()
        chosen.update((r.id, r) for r in rows if r.project_id == project.id)
    if request.selection is not None:
        chosen.update((r.id, r) for r in selections.sessions_of(db, project, request.selection))
    if not chosen and request.selection is not None:
        raise Invalid(
            f"Selection '{request.selection}' holds no session: choose sessions to push.",
            field="selection",
        )
    return sorted(chosen.values(), key=lambda s: s.label)


def _instances(db: DBSession, push: Push, sessions: list[Session]) -> int:
    """One pending row per archived DICOM instance of the sessions; how many."""
    rows = db.execute(
        select(Instance.id, Scan.session_id)
        .join(Scan, Instance.scan_id == Scan.id)
        .where(Scan.session_id.in_([s.id for s in sessions]), Instance.file_id.is_not(None))
        .order_by(Scan.session_id, Instance.StudyInstanceUID, Instance.id)
    ).all()
    if not rows:
        raise NotFound(
            "The chosen sessions hold no archived DICOM instance: a push sends DICOM "
            "instances only.",
            field="sessions",
        )
    db.execute(
        insert(PushInstance),
        [
            {
                "push_id": push.id,
                "instance_id": instance_id,
                "session_id": session_id,
                "status": InstanceStatus.PENDING.value,
                "attempts": 0,
                "reason": "",
            }
            for instance_id, session_id in rows
        ],
    )
    return len(rows)


def _queued_before(db: DBSession, destination: PushDestination) -> int | None:
    """The job of the newest unfinished push to the same destination."""
    return db.scalar(
        select(Job.id)
        .join(Push, Push.job_id == Job.id)
        .where(Push.destination_id == destination.id, Job.status.not_in(queue.finished_values()))
        .order_by(Job.id.desc())
        .limit(1)
    )


def request_push(ctx: Context, actor: Actor, project: str, request: PushRequest) -> Push:
    """Check ``request`` and queue it (see the module docstring); the push as recorded."""
    require_signed_in(actor)
    with ctx.db.write() as db:
        # Whoever may download the project's data de-identified may send it out so.
        proj = projects.load(db, actor, project, Action.DOWNLOAD)
        dest = _destination(db, proj, request.destination)
        chosen = script.choose(db, dest, proj.id)
        sessions = _sessions(db, proj, request)
        push = Push(
            destination_id=dest.id,
            destination=dest.name,
            project_id=proj.id,
            project=proj.label,
            request={**request.model_dump(mode="json"), "sessions": [s.label for s in sessions]},
            script=chosen.label if chosen is not None else "",
            status=PushStatus.QUEUED.value,
            message="",
            report={},
            user_id=actor.user_id,
            requested_by=actor.login,
        )
        db.add(push)
        db.flush()
        push.instances_total = _instances(db, push, sessions)
        job = jobs.new_task(
            db,
            proj,
            TASK,
            {"push": push.id},
            f"push {push.id} to {dest.name}",
            launched_by=actor.login,
            after_end_of=_queued_before(db, dest),
        )
        push.job_id = job.id
        audit.record(
            db,
            actor,
            AuditAction.PUSH_STARTED,
            project=proj.label,
            target=f"push {push.id}",
            destination=dest.name,
            sessions=len(sessions),
            selection=request.selection,
            instances=push.instances_total,
            script=push.script or None,
            clinical=dest.clinical or None,
            allow_burned_in=request.allow_burned_in or None,
        )
        db.flush()
        db.expunge(push)
    jobs.announce_queued(ctx, proj.label, [job])
    return push


class Choices(NamedTuple):
    """What a push form offers: the destinations and the saved selections' names."""

    destinations: list[PushDestination]
    selections: list[str]


def choices(ctx: Context, actor: Actor, project: str) -> Choices:
    """The enabled destinations ``project`` may push to, and its saved selections, for
    whoever may push from it."""
    require_signed_in(actor)
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.DOWNLOAD)
        return Choices(_destinations(db, proj), selections.names(db, proj))


def _destinations(db: DBSession, proj: Project) -> list[PushDestination]:
    found = list(
        db.scalars(
            select(PushDestination)
            .join(PushDestinationProject)
            .where(
                PushDestinationProject.project_id == proj.id,
                PushDestination.enabled.is_(True),
            )
            .order_by(PushDestination.name)
        )
    )
    for row in found:
        db.expunge(row)
    return found
