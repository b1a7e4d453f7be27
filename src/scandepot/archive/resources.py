"""Resources: labelled folders of files (DICOM, NIFTI, QA, ...) at every level."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import holds, projects, scans, sessions, subjects
from scandepot.archive.layout import Owner
from scandepot.catalog.archive import File, Resource
from scandepot.catalog.labels import by_label, check_label, label_taken
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, NotFound, Unauthorized


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """The labels that address a resource's owner, as they appear in URLs."""

    project: str
    subject: str | None = None
    session: str | None = None
    scan: str | None = None

    def describe(self) -> str:
        if self.scan is not None:
            return f"scan '{self.scan}' of session '{self.session}'"
        if self.session is not None:
            return f"session '{self.session}'"
        if self.subject is not None:
            return f"subject '{self.subject}'"
        return f"project '{self.project}'"


class ResourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    format: str | None = Field(default=None, max_length=64)
    content: str | None = Field(default=None, max_length=255)


@dataclass(frozen=True, slots=True)
class ResourceView:
    resource: Resource
    file_count: int
    size: int


def load_owner(db: DBSession, actor: Actor, ref: OwnerRef, action: Action) -> Owner:
    if ref.scan is not None:
        assert ref.session is not None
        scan = scans.load(db, actor, ref.project, ref.session, ref.scan, action)
        return Owner(scan.session.project, scan.session.subject, scan.session, scan)
    if ref.session is not None:
        session = sessions.load(db, actor, ref.project, ref.session, action)
        return Owner(session.project, session.subject, session)
    if ref.subject is not None:
        subject = subjects.load(db, actor, ref.project, ref.subject, action)
        return Owner(subject.project, subject)
    return Owner(projects.load(db, actor, ref.project, action))


def hold_labels(db: DBSession, owner: Owner) -> None:
    """Share-lock the rows whose labels make up the owner's folder, and re-read them.

    A file is placed under a path built from labels; a relabel, move or delete committed
    meanwhile would leave it in a folder nobody knows. On PostgreSQL a relabel's UPDATE
    waits for this lock (and this lock for a relabel in flight); SQLite has one writer.
    """
    subject = owner.session.subject if owner.session is not None else owner.subject
    for row in (subject, owner.session, owner.scan):
        if row is not None:
            db.refresh(row, with_for_update={"read": True})


def find(db: DBSession, owner: Owner, label: str, ref: OwnerRef) -> Resource:
    resource = db.scalar(
        by_label(select(Resource).where(Resource.parent_key == owner.key), Resource.label, label)
    )
    if resource is None:
        raise NotFound(f"Resource '{label}' not found in {ref.describe()}.", field="resource")
    return resource


def find_or_create(db: DBSession, owner: Owner, label: str) -> Resource:
    """The resource ``label`` of ``owner``, created if missing. Safe against a concurrent
    creator: the loser of the race rolls back to a savepoint and takes the winner's row."""
    check_label(label, field="resource")
    query = by_label(
        select(Resource).where(Resource.parent_key == owner.key), Resource.label, label
    )
    resource = db.scalar(query)
    if resource is not None:
        if resource.label != label:
            # Folders named DICOM and dicom would collide on case-insensitive file systems.
            raise Conflict(
                f"A resource labelled '{resource.label}' already exists; labels differing "
                "only in case are not allowed.",
                field="resource",
            )
        return resource
    try:
        with db.begin_nested():
            resource = new_resource(owner, label)
            db.add(resource)
    except IntegrityError:
        resource = db.scalar(query)
        if resource is None:
            raise
    return resource


def new_resource(
    owner: Owner, label: str, *, format: str | None = None, content: str | None = None
) -> Resource:
    return Resource(
        level=owner.level.value,
        parent_key=owner.key,
        project_id=owner.project.id,
        subject_id=owner.subject.id if owner.subject else None,
        session_id=owner.session.id if owner.session else None,
        scan_id=owner.scan.id if owner.scan else None,
        label=label,
        format=format,
        content=content,
    )


def views(db: DBSession, where: ColumnElement[bool]) -> list[ResourceView]:
    """The resources ``where`` selects, by label, each with its file count and size."""
    rows = db.execute(
        select(Resource, func.count(File.id), func.coalesce(func.sum(File.size), 0))
        .outerjoin(File, File.resource_id == Resource.id)
        .where(where)
        .group_by(Resource.id)
        .order_by(Resource.label)
    ).all()
    return [ResourceView(r, int(count), int(size)) for r, count, size in rows]


def _views(db: DBSession, owner: Owner) -> list[ResourceView]:
    return views(db, Resource.parent_key == owner.key)


def list_resources(ctx: Context, actor: Actor, ref: OwnerRef) -> list[ResourceView]:
    with ctx.db.read() as db:
        return _views(db, load_owner(db, actor, ref, Action.READ))


def get(ctx: Context, actor: Actor, ref: OwnerRef, label: str) -> ResourceView:
    with ctx.db.read() as db:
        owner = load_owner(db, actor, ref, Action.READ)
        found = find(db, owner, label, ref)
        return next(v for v in _views(db, owner) if v.resource.id == found.id)


def create(ctx: Context, actor: Actor, ref: OwnerRef, data: ResourceCreate) -> ResourceView:
    label = check_label(data.label, field="label")
    with ctx.db.write() as db:
        owner = load_owner(db, actor, ref, Action.UPLOAD)
        scope = Resource.parent_key == owner.key
        if label_taken(db, Resource.id, Resource.label, scope, label):
            raise Conflict(
                f"A resource labelled '{label}' already exists in {ref.describe()}.", field="label"
            )
        resource = new_resource(owner, label, format=data.format, content=data.content)
        db.add(resource)
        db.flush()
        return ResourceView(resource, 0, 0)


def delete(ctx: Context, actor: Actor, ref: OwnerRef, label: str) -> None:
    with ctx.db.write() as db:
        owner = load_owner(db, actor, ref, Action.DELETE)
        resource = find(db, owner, label, ref)
        folder = owner.resource_files_dir(resource.label).parent
        chosen = holds.of_resource(resource.id)
        holds.refuse_held(db, actor, chosen, doing=f"delete resource '{resource.label}'")
        db.delete(resource)
        audit.record(
            db, actor, AuditAction.RESOURCE_DELETED, project=ref.project, target=str(folder)
        )
    ctx.store.remove_tree(ctx.archive_path(folder))


def ensure(
    ctx: Context, actor: Actor, ref: OwnerRef, data: ResourceCreate
) -> tuple[ResourceView, bool]:
    """The resource ``data`` describes, created if missing (True) or as it is (False):
    creating what exists is not an error for clients that "make sure" a resource exists."""
    label = check_label(data.label, field="label")
    with ctx.db.write() as db:
        owner = load_owner(db, actor, ref, Action.UPLOAD)
        existing = db.scalar(
            by_label(
                select(Resource).where(Resource.parent_key == owner.key), Resource.label, label
            )
        )
        if existing is not None:
            if existing.label != label:
                raise Conflict(
                    f"A resource labelled '{existing.label}' already exists; labels differing "
                    "only in case are not allowed.",
                    field="label",
                )
            return next(v for v in _views(db, owner) if v.resource.id == existing.id), False
        resource = new_resource(owner, label, format=data.format, content=data.content)
        db.add(resource)
        db.flush()
        return ResourceView(resource, 0, 0), True


def label_of(ctx: Context, actor: Actor, ref: OwnerRef, name: str) -> str:
    """The label of the resource of ``ref`` that ``name`` names: its label, else its
    number (``xnat_abstractresource_id``). ``name`` itself when none does, or the caller
    may not read the owner: the service then called with it gives the answer."""
    if not name.isdigit():
        return name
    with ctx.db.read() as db:
        try:
            owner = load_owner(db, actor, ref, Action.READ)
        except (NotFound, Forbidden, Unauthorized):
            return name
        by_name = db.scalar(
            by_label(select(Resource).where(Resource.parent_key == owner.key), Resource.label, name)
        )
        if by_name is not None:
            return name
        found = db.scalar(
            select(Resource).where(Resource.parent_key == owner.key, Resource.id == int(name))
        )
        return found.label if found is not None else name
