"""Imaging sessions: labelled uniquely within a project, each belonging to one subject."""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import holds, layout, projects, shared
from scandepot.archive.relocate import relocations
from scandepot.catalog.archive import Project, Resource, Session, Subject
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.labels import by_label, check_label, label_taken, same_label
from scandepot.catalog.paging import Page, PageRequest, like, paginate
from scandepot.catalog.transfers import Share, ShareKind
from scandepot.context import Context
from scandepot.errors import Conflict, NotFound

# PS3.5 §9.1: components of digits separated by '.', no leading zeros, at most 64 chars.
UID_PATTERN = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"


def check_uid(value: str | None) -> str | None:
    if value is not None and (len(value) > 64 or not re.fullmatch(UID_PATTERN, value)):
        raise ValueError("is not a DICOM UID (digits and dots, at most 64 characters)")
    return value


class SessionFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = None
    subject: str | None = None
    modality: str | None = Field(default=None, max_length=16)
    date: dt.date | None = None
    time: dt.time | None = None
    note: str | None = Field(default=None, max_length=10_000)
    StudyInstanceUID: str | None = None
    AccessionNumber: str | None = Field(default=None, max_length=16)
    StudyDescription: str | None = Field(default=None, max_length=64)
    PatientName: str | None = Field(default=None, max_length=324)
    PatientID: str | None = Field(default=None, max_length=64)
    PatientBirthDate: str | None = Field(default=None, pattern=r"^\d{8}$")
    PatientSex: str | None = Field(default=None, max_length=16)
    ReferringPhysicianName: str | None = Field(default=None, max_length=324)
    ModalitiesInStudy: str | None = Field(default=None, max_length=64)
    InstitutionName: str | None = Field(default=None, max_length=64)
    Manufacturer: str | None = Field(default=None, max_length=64)
    ManufacturerModelName: str | None = Field(default=None, max_length=64)
    StationName: str | None = Field(default=None, max_length=16)
    MagneticFieldStrength: float | None = Field(default=None, ge=0, le=100)

    @field_validator("StudyInstanceUID")
    @classmethod
    def _uid(cls, value: str | None) -> str | None:
        return check_uid(value)


class SessionCreate(SessionFields):
    label: str
    subject: str


def load(db: DBSession, actor: Actor, project: str, label: str, action: Action) -> Session:
    proj = projects.load(db, actor, project, action)
    session = db.scalar(
        by_label(select(Session).where(Session.project_id == proj.id), Session.label, label)
    )
    if session is None:  # one shared into the project: read there, changed at home
        session = shared.session_in(db, proj, label, action)
    if session is None:
        raise NotFound(f"Session '{label}' not found in project '{project}'.", field="session")
    return session


def _ensure_free(
    db: DBSession, project: Project, label: str, *, exclude: int | None = None
) -> None:
    scope = Session.project_id == project.id
    if label_taken(
        db, Session.id, Session.label, scope, label, exclude=exclude
    ) or shared.label_taken(db, project.id, ShareKind.SESSION, label):
        raise Conflict(
            f"A session labelled '{label}' already exists in project '{project.label}'.",
            field="label",
        )


def _subject(db: DBSession, project: Project, label: str) -> Subject:
    subject = db.scalar(
        by_label(select(Subject).where(Subject.project_id == project.id), Subject.label, label)
    )
    if subject is None:
        raise NotFound(
            f"Subject '{label}' not found in project '{project.label}'.", field="subject"
        )
    return subject


def get(ctx: Context, actor: Actor, project: str, label: str) -> Session:
    with ctx.db.read() as db:
        return load(db, actor, project, label, Action.READ)


def check(
    ctx: Context, actor: Actor, project: str, action: Action, label: str | None = None
) -> None:
    """Raise unless ``actor`` may do ``action`` on the session ``label`` (on sessions of
    ``project`` when None): for callers that check before they read their input, so that a
    caller who may not write learns that first (401, 404, 403), whatever else is wrong."""
    with ctx.db.read() as db:
        if label is None:
            projects.load(db, actor, project, action)
        else:
            load(db, actor, project, label, action)


def list_sessions(
    ctx: Context,
    actor: Actor,
    project: str,
    page: PageRequest,
    *,
    label: str | None = None,
    subject: str | None = None,
    modality: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Page[Session]:
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        # Its own sessions and those shared into it, by their labels there: one query.
        here = func.coalesce(Share.label, Session.label)
        subject_here = func.coalesce(shared.session_subject_label_in(proj.id), Subject.label)
        stmt = (
            select(Session)
            .join(Session.subject)
            .outerjoin(Share, shared.session_share_join(proj.id))
            .where(shared.in_project(Session.project_id, proj.id))
            .options(*shared.session_options(proj.id))
        )
        if label:
            stmt = stmt.where(like(here, label))
        if subject:
            stmt = stmt.where(same_label(subject_here, subject))
        if modality:
            stmt = stmt.where(Session.modality == modality)
        if date_from:
            stmt = stmt.where(Session.date >= date_from)
        if date_to:
            stmt = stmt.where(Session.date <= date_to)
        return paginate(
            db,
            stmt,
            page,
            sort_fields={
                "label": here,
                "id": Session.stable_id,
                "subject": subject_here,
                "date": Session.date,
                "modality": Session.modality,
                "created": Session.created_at,
            },
            default_sort="label",
            tiebreak=Session.id,
        )


def create(ctx: Context, actor: Actor, project: str, data: SessionCreate) -> Session:
    label = check_label(data.label)
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.CREATE)
        subject = _subject(db, proj, check_label(data.subject, field="subject"))
        _ensure_free(db, proj, label)
        values = data.model_dump(exclude_none=True, exclude={"label", "subject"})
        session = Session(
            project_id=proj.id,
            subject_id=subject.id,
            label=label,
            stable_id=next_stable_id(db, "session", ctx.settings.site_id),
            **values,
        )
        db.add(session)
        db.flush()
        db.refresh(session)
        return session


def update(ctx: Context, actor: Actor, project: str, label: str, data: SessionFields) -> Session:
    changes = data.model_dump(exclude_unset=True)
    new_label = changes.pop("label", None)
    new_subject = changes.pop("subject", None)
    with relocations(ctx) as moves, ctx.db.write() as db:
        session = load(db, actor, project, label, Action.EDIT)
        project = session.project.label
        old_dir = layout.session_dir(project, session.subject.label, session.label)
        if new_label is not None and new_label != session.label:
            check_label(new_label)
            _ensure_free(db, session.project, new_label, exclude=session.id)
            session.label = new_label
        if new_subject is not None and new_subject != session.subject.label:
            subject = _subject(db, session.project, check_label(new_subject, field="subject"))
            shared.not_shared_elsewhere(db, session)
            session.subject_id = subject.id
            session.subject = subject
            # Resources below the session record their subject too (for paths and checks).
            db.execute(
                sql_update(Resource)
                .where(Resource.session_id == session.id)
                .values(subject_id=subject.id)
            )
        for key, value in changes.items():
            setattr(session, key, "" if key == "note" and value is None else value)
        db.flush()
        moves.move(old_dir, layout.session_dir(project, session.subject.label, session.label))
        return session


def delete(ctx: Context, actor: Actor, project: str, label: str) -> None:
    with ctx.db.write() as db:
        session = load(db, actor, project, label, Action.DELETE)
        folder = layout.session_dir(session.project.label, session.subject.label, session.label)
        chosen = holds.of_session(session.id)
        holds.refuse_held(db, actor, chosen, doing=f"delete session '{session.label}'")
        db.delete(session)
        audit.record(db, actor, AuditAction.SESSION_DELETED, project=project, target=session.label)
    ctx.store.remove_tree(ctx.archive_path(folder))
