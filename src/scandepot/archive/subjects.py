"""Subjects: the people (or phantoms) scanned, labelled uniquely within a project."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import layout, projects
from scandepot.archive.relocate import relocations
from scandepot.catalog.archive import Project, Session, Sex, Subject
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.labels import by_label, check_label, label_taken
from scandepot.catalog.paging import Page, PageRequest, like, paginate
from scandepot.context import Context
from scandepot.errors import Conflict, NotFound


class SubjectFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = None
    sex: Sex | None = None
    age: int | None = Field(default=None, ge=0, le=150)
    birth_year: int | None = Field(default=None, ge=1850, le=2200)
    group: str | None = Field(default=None, max_length=64)
    fields: dict[str, str] | None = Field(default=None, max_length=100)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, item in (value or {}).items():
            check_label(key, field="fields")
            if len(item) > 1000:
                raise ValueError(f"field '{key}' is longer than 1000 characters")
        return value


class SubjectCreate(SubjectFields):
    label: str


def load(db: DBSession, actor: Actor, project: str, label: str, action: Action) -> Subject:
    proj = projects.load(db, actor, project, action)
    subject = db.scalar(
        by_label(select(Subject).where(Subject.project_id == proj.id), Subject.label, label)
    )
    if subject is None:
        raise NotFound(f"Subject '{label}' not found in project '{project}'.", field="subject")
    return subject


def _ensure_free(
    db: DBSession, project: Project, label: str, *, exclude: int | None = None
) -> None:
    scope = Subject.project_id == project.id
    if label_taken(db, Subject.id, Subject.label, scope, label, exclude=exclude):
        raise Conflict(
            f"A subject labelled '{label}' already exists in project '{project.label}'.",
            field="label",
        )


def get(ctx: Context, actor: Actor, project: str, label: str) -> Subject:
    with ctx.db.read() as db:
        return load(db, actor, project, label, Action.READ)


def list_subjects(
    ctx: Context,
    actor: Actor,
    project: str,
    page: PageRequest,
    *,
    label: str | None = None,
    group: str | None = None,
    sex: Sex | None = None,
) -> Page[Subject]:
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        stmt = select(Subject).where(Subject.project_id == proj.id)
        if label:
            stmt = stmt.where(like(Subject.label, label))
        if group:
            stmt = stmt.where(Subject.group == group)
        if sex:
            stmt = stmt.where(Subject.sex == sex.value)
        return paginate(
            db,
            stmt,
            page,
            sort_fields={
                "label": Subject.label,
                "id": Subject.stable_id,
                "group": Subject.group,
                "created": Subject.created_at,
            },
            default_sort="label",
            tiebreak=Subject.id,
        )


def create(ctx: Context, actor: Actor, project: str, data: SubjectCreate) -> Subject:
    label = check_label(data.label)
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.CREATE)
        _ensure_free(db, proj, label)
        values = data.model_dump(exclude_none=True, exclude={"label"})
        subject = Subject(
            project_id=proj.id,
            label=label,
            stable_id=next_stable_id(db, "subject", ctx.settings.site_id),
            **values,
        )
        db.add(subject)
        db.flush()
        db.refresh(subject)
        return subject


def update(ctx: Context, actor: Actor, project: str, label: str, data: SubjectFields) -> Subject:
    changes = data.model_dump(exclude_unset=True)
    with relocations(ctx) as moves, ctx.db.write() as db:
        subject = load(db, actor, project, label, Action.EDIT)
        new_label = changes.pop("label", None)
        if new_label is not None and new_label != subject.label:
            check_label(new_label)
            _ensure_free(db, subject.project, new_label, exclude=subject.id)
            old_dir = layout.subject_dir(subject.project.label, subject.label)
            subject.label = new_label
            db.flush()
            moves.move(old_dir, layout.subject_dir(subject.project.label, new_label))
        for key, value in changes.items():
            setattr(subject, key, {} if key == "fields" and value is None else value)
        return subject


def delete(
    ctx: Context, actor: Actor, project: str, label: str, *, recursive: bool = False
) -> None:
    with ctx.db.write() as db:
        subject = load(db, actor, project, label, Action.DELETE)
        sessions = db.scalar(select(func.count(Session.id)).where(Session.subject_id == subject.id))
        if sessions and not recursive:
            raise Conflict(
                f"Subject '{label}' has {sessions} session(s); "
                "delete them first or ask for a recursive delete."
            )
        folder = layout.subject_dir(subject.project.label, subject.label)
        db.delete(subject)
        audit.record(db, actor, AuditAction.SUBJECT_DELETED, project=project, target=subject.label)
    ctx.store.remove_tree(ctx.archive_path(folder))
