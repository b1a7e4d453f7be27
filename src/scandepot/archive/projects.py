"""Projects: create, read, list, configure, delete."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from sqlalchemy import Integer, Select, cast, func, select, true
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import selectinload

from scandepot.access import audit, permissions
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, Level
from scandepot.archive import holds, layout
from scandepot.catalog.access import ProjectRole, Role
from scandepot.catalog.archive import (
    Accessibility,
    ConflictPolicy,
    Project,
    Scan,
    SeriesFilterMode,
    Session,
    Subject,
    UploadDestination,
)
from scandepot.catalog.labels import check_label, label_taken
from scandepot.catalog.paging import Page, PageRequest, like, paginate
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.errors import Conflict
from scandepot.storage import spool


class ProjectSettings(BaseModel):
    """The settings an owner changes; every field optional so that PATCH can send a few."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    keywords: list[str] | None = Field(default=None, max_length=100)
    accessibility: Accessibility | None = None
    upload_destination: UploadDestination | None = None
    allow_subject_creation: bool | None = None
    bulk_upload_allowed: bool | None = None
    series_filter_mode: SeriesFilterMode | None = None
    series_filter: list[str] | None = Field(default=None, max_length=200)
    notification_recipients: list[EmailStr] | None = Field(default=None, max_length=100)
    conflict_policy: ConflictPolicy | None = None
    session_complete_after_min: int | None = Field(default=None, ge=0, le=1440)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not k.strip() or len(k) > 64 for k in value):
            raise ValueError("keywords must be non-empty and at most 64 characters each")
        return value

    @field_validator("series_filter")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or []:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"'{pattern}' is not a regular expression: {exc}") from None
        return value


class ProjectCreate(ProjectSettings):
    id: str = Field(max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=255)


@dataclass(frozen=True, slots=True)
class ProjectView:
    project: Project
    level: Level
    role: Role | None
    subjects: int
    sessions: int
    scans: int


def _counts() -> tuple[Any, Any, Any]:
    """Each project's subjects, sessions and scans, counted on the indexes on their parent
    alone (count(*): index-only scans). Scans are counted session by session, through
    the index on scan.session_id: one join of scans to sessions had PostgreSQL read every
    scan of the site for each project."""
    subjects = select(func.count()).where(Subject.project_id == Project.id).scalar_subquery()
    sessions = select(func.count()).where(Session.project_id == Project.id).scalar_subquery()
    per_session = select(func.count()).where(Scan.session_id == Session.id).scalar_subquery()
    scans = (
        select(cast(func.coalesce(func.sum(per_session), 0), Integer))
        .where(Session.project_id == Project.id)
        .scalar_subquery()
    )
    return subjects, sessions, scans


def _with_counts() -> Select[Any]:
    # The recipients with it: the view is read after the catalog session ends.
    return select(Project, *_counts()).options(selectinload(Project.recipients))


# The check lives in access/ (roles.py loads projects too, and access sits below archive);
# services load a project here, as they load subjects and sessions from their modules.
load = permissions.load_project


def _view(db: DBSession, actor: Actor, row: Any) -> ProjectView:
    project, subjects, sessions, scans = row
    return ProjectView(
        project=project,
        level=permissions.level_on(db, actor, project),
        role=permissions.role_of(db, actor, project.id),
        subjects=subjects,
        sessions=sessions,
        scans=scans,
    )


def get(ctx: Context, actor: Actor, label: str) -> ProjectView:
    with ctx.db.read() as db:
        project = load(db, actor, label, Action.SEE)
        row = db.execute(_with_counts().where(Project.id == project.id)).one()
        return _view(db, actor, row)


def readable(ctx: Context, actor: Actor, label: str) -> str:
    """The label of project ``label`` when ``actor`` may read what it holds (its images, in
    the viewer); fails closed as every loader does (401, 404, 403)."""
    with ctx.db.read() as db:
        return load(db, actor, label, Action.READ).label


def list_projects(
    ctx: Context, actor: Actor, page: PageRequest, *, q: str | None = None
) -> Page[ProjectView]:
    subjects, sessions, _scans = _counts()
    stmt = _with_counts().where(permissions.permission_clause(actor, Level.SEE))
    if q:
        stmt = stmt.where(like(Project.label, q) | like(Project.name, q))
    with ctx.db.read() as db:
        result = paginate(
            db,
            stmt,
            page,
            sort_fields={
                "id": Project.label,
                "name": Project.name,
                "created": Project.created_at,
                "subjects": subjects,
                "sessions": sessions,
            },
            default_sort="id",
            tiebreak=Project.id,
        )
        items = [_view(db, actor, row) for row in result.items]
    return result.with_items(items)


def visible(ctx: Context, actor: Actor) -> list[Project]:
    """Every project ``actor`` may see, by label, in one query."""
    stmt = select(Project).where(permissions.permission_clause(actor, Level.SEE))
    with ctx.db.read() as db:
        return list(db.scalars(stmt.order_by(Project.label)))


def create(ctx: Context, actor: Actor, data: ProjectCreate) -> ProjectView:
    permissions.require_signed_in(actor)
    label = check_label(data.id, field="id")
    values = data.model_dump(exclude_none=True, exclude={"id"})
    values.setdefault("name", label)
    with ctx.db.write() as db:
        if label_taken(db, Project.id, Project.label, true(), label):
            raise Conflict(f"A project with ID '{label}' already exists.", field="id")
        project = Project(label=label, **values)
        db.add(project)
        db.flush()
        if actor.user_id is not None:
            db.add(ProjectRole(project_id=project.id, user_id=actor.user_id, role=Role.OWNER))
        audit.record(
            db,
            actor,
            AuditAction.PROJECT_CREATED,
            project=label,
            accessibility=project.accessibility,
        )
    return get(ctx, actor, label)


def update(ctx: Context, actor: Actor, label: str, data: ProjectSettings) -> ProjectView:
    with ctx.db.write() as db:
        project = load(db, actor, label, Action.CONFIGURE)
        changed = {}
        for key, value in data.model_dump(exclude_unset=True).items():
            if value is None or getattr(project, key) == value:
                continue
            if key == "accessibility":
                audit.record(
                    db,
                    actor,
                    AuditAction.PROJECT_ACCESSIBILITY,
                    project=label,
                    old=project.accessibility,
                    new=str(value),
                )
            setattr(project, key, value)
            changed[key] = value
        if changed:
            audit.record(
                db, actor, AuditAction.PROJECT_UPDATED, project=label, fields=sorted(changed)
            )
    return get(ctx, actor, label)


def delete(ctx: Context, actor: Actor, label: str, *, recursive: bool = False) -> None:
    with ctx.db.write() as db:
        project = load(db, actor, label, Action.DELETE)
        has_subjects = db.scalar(
            select(func.count(Subject.id)).where(Subject.project_id == project.id)
        )
        if has_subjects and not recursive:
            raise Conflict(
                f"Project '{label}' has {has_subjects} subject(s); "
                "delete them first or ask for a recursive delete."
            )
        staged = db.scalars(
            select(StagedSession.id).where(StagedSession.project_key == label)
        ).all()
        if staged and not recursive:
            raise Conflict(
                f"Project '{label}' has {len(staged)} staged session(s) in the prearchive; "
                "archive or delete them first, or ask for a recursive delete."
            )
        holds.refuse_held(db, actor, holds.of_project(project.id), doing=f"delete '{label}'")
        db.execute(sql_delete(StagedSession).where(StagedSession.project_key == label))
        db.delete(project)
        audit.record(db, actor, AuditAction.PROJECT_DELETED, project=label, recursive=recursive)
    # The catalog forgets first; a crash before the files go leaves only files that
    # `scandepot check` reports as not catalogued, never a catalog entry without its file.
    ctx.store.remove_tree(ctx.archive_path(layout.project_dir(label)))
    for staged_id in staged:
        ctx.store.remove_tree(spool.folder(ctx.store, staged_id))
