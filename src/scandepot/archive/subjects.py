"""Subjects: the people (or phantoms) scanned, labelled uniquely within a project."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, false, func, literal, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, Level, permission_clause
from scandepot.archive import holds, layout, projects, shared
from scandepot.archive.relocate import Relocations, relocations
from scandepot.catalog.archive import Project, Session, Sex, Subject
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.labels import by_label, check_label, label_taken
from scandepot.catalog.paging import Page, PageRequest, like, paginate
from scandepot.catalog.transfers import Share, ShareKind
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid, NotFound

MAX_FIELDS = 100
MAX_FIELD_VALUE = 1000


class SubjectFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = None
    sex: Sex | None = None
    age: int | None = Field(default=None, ge=0, le=150)
    birth_year: int | None = Field(default=None, ge=1850, le=2200)
    group: str | None = Field(default=None, max_length=64)
    fields: dict[str, str] | None = Field(default=None, max_length=MAX_FIELDS)

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, item in (value or {}).items():
            check_field(key, item)
        return value


def check_field(name: str, value: str | None) -> None:
    """A custom field's name follows the label rule; its value is at most 1000 characters."""
    check_label(name, field="fields")
    if value is not None and len(value) > MAX_FIELD_VALUE:
        raise Invalid(f"field '{name}' is longer than {MAX_FIELD_VALUE} characters", field="fields")


FieldChanges = Mapping[str, str | None]
"""Custom fields to set (a value) or remove (None), the others kept as they are."""


class SubjectCreate(SubjectFields):
    label: str


def load(db: DBSession, actor: Actor, project: str, label: str, action: Action) -> Subject:
    proj = projects.load(db, actor, project, action)
    subject = db.scalar(
        by_label(select(Subject).where(Subject.project_id == proj.id), Subject.label, label)
    )
    if subject is None:  # one shared into the project: read there, changed at home
        subject = shared.subject_in(db, proj, label, action)
    if subject is None:
        raise NotFound(f"Subject '{label}' not found in project '{project}'.", field="subject")
    return subject


def _ensure_free(
    db: DBSession, project: Project, label: str, *, exclude: int | None = None
) -> None:
    scope = Subject.project_id == project.id
    if label_taken(
        db, Subject.id, Subject.label, scope, label, exclude=exclude
    ) or shared.label_taken(db, project.id, ShareKind.SUBJECT, label):
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
        # Its own subjects and those shared into it, by their labels there: one query.
        here = func.coalesce(Share.label, Subject.label)
        stmt = (
            select(Subject)
            .outerjoin(Share, shared.subject_share_join(proj.id))
            .where(shared.in_project(Subject.project_id, proj.id))
            .options(*shared.subject_options())
        )
        if label:
            stmt = stmt.where(like(here, label))
        if group:
            stmt = stmt.where(Subject.group == group)
        if sex:
            stmt = stmt.where(Subject.sex == sex.value)
        return paginate(
            db,
            stmt,
            page,
            sort_fields={
                "label": here,
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


def update(
    ctx: Context,
    actor: Actor,
    project: str,
    label: str,
    data: SubjectFields,
    *,
    field_changes: FieldChanges | None = None,
) -> Subject:
    """Change what ``data`` sets; ``fields`` replaces every custom field, ``field_changes``
    sets or removes single ones."""
    with relocations(ctx) as moves, ctx.db.write() as db:
        subject = load(db, actor, project, label, Action.EDIT)
        _change(db, moves, subject, data, field_changes or {})
        return subject


def put(
    ctx: Context,
    actor: Actor,
    project: str,
    label: str,
    data: SubjectFields,
    *,
    field_changes: FieldChanges | None = None,
) -> tuple[Subject, bool]:
    """Subject ``label`` changed as :func:`update` changes it, created first when the
    project has none so labelled (XNAT's PUT); True when it was created."""
    for name, value in (field_changes or {}).items():
        check_field(name, value)
    with relocations(ctx) as moves, ctx.db.write() as db:
        # Creating and editing a subject take the same level (write).
        proj = projects.load(db, actor, project, Action.EDIT)
        subject = db.scalar(
            by_label(select(Subject).where(Subject.project_id == proj.id), Subject.label, label)
        )
        if subject is None:  # one shared into the project is changed at home: 403
            shared.subject_in(db, proj, label, Action.EDIT)
        created = subject is None
        if subject is None:
            new_label = check_label(data.label or label)
            _ensure_free(db, proj, new_label)
            subject = Subject(
                project_id=proj.id,
                label=new_label,
                stable_id=next_stable_id(db, "subject", ctx.settings.site_id),
                fields={},
            )
            db.add(subject)
            db.flush()
            data = data.model_copy(update={"label": None})
        _change(db, moves, subject, data, field_changes or {})
        db.flush()
        db.refresh(subject)
        return subject, created


def _change(
    db: DBSession,
    moves: Relocations,
    subject: Subject,
    data: SubjectFields,
    field_changes: FieldChanges,
) -> None:
    changes = data.model_dump(exclude_unset=True)
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
    if field_changes:
        merged = dict(subject.fields or {})
        for name, value in field_changes.items():
            check_field(name, value)
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        if len(merged) > MAX_FIELDS:
            raise Invalid(f"A subject has at most {MAX_FIELDS} custom fields.", field="fields")
        subject.fields = merged  # a new dict: the JSON column sees the change


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
        chosen = holds.of_subject(subject.id)
        holds.refuse_held(db, actor, chosen, doing=f"delete subject '{subject.label}'")
        db.delete(subject)
        audit.record(db, actor, AuditAction.SUBJECT_DELETED, project=project, target=subject.label)
    ctx.store.remove_tree(ctx.archive_path(folder))


class SubjectRow(NamedTuple):
    """A subject as listings show it, read with its project's label in the same query."""

    stable_id: str
    label: str
    project: str
    sex: str | None
    age: int | None
    birth_year: int | None
    group: str | None
    fields: dict[str, str]
    created_at: datetime


def rows(
    ctx: Context, actor: Actor, project: str | None = None, *, fields: bool = True
) -> list[SubjectRow]:
    """Every subject of ``project``, or of every project ``actor`` may read when None, in
    one query (listings of thousands of subjects make no query per row). ``fields=False``
    leaves the custom fields out (empty), for listings that do not show them."""
    custom = Subject.fields if fields else literal(None, JSON)
    stmt = select(
        Subject.stable_id,
        func.coalesce(Share.label, Subject.label),  # a shared one: its label there
        Project.label,
        Subject.sex,
        Subject.age,
        Subject.birth_year,
        Subject.group,
        custom,
        Subject.created_at,
    ).join(Project, Subject.project_id == Project.id)
    with ctx.db.read() as db:
        if project is None:
            stmt = stmt.outerjoin(Share, false()).where(permission_clause(actor, Level.READ))
        else:  # its own and those shared into it, with the project that owns each
            proj = projects.load(db, actor, project, Action.READ)
            stmt = stmt.outerjoin(Share, shared.subject_share_join(proj.id))
            stmt = stmt.where(shared.in_project(Subject.project_id, proj.id))
        found = db.execute(stmt.order_by(Project.label, Subject.label, Subject.id)).all()
    return [
        SubjectRow(sid, label, proj, sex, age, yob, group, custom or {}, created)
        for sid, label, proj, sex, age, yob, group, custom, created in found
    ]
