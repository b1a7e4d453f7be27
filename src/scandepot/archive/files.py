"""Files inside resources: upload (streamed, durable, atomic), download, list, delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import holds, resources
from scandepot.archive.resources import OwnerRef
from scandepot.catalog.archive import File, Resource
from scandepot.catalog.labels import check_file_path, check_label
from scandepot.catalog.paging import Page, PageRequest, like, paginate
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, NotFound
from scandepot.storage.changes import Changes
from scandepot.storage.store import StagedFile


@dataclass(frozen=True, slots=True)
class Located:
    file: File
    path: Path


@dataclass(frozen=True, slots=True)
class UploadResult:
    file: File
    created: bool


def prepare_upload(
    ctx: Context, actor: Actor, ref: OwnerRef, resource: str, path: str, *, overwrite: bool
) -> str:
    """Check the request before any byte is accepted; returns the normalised path."""
    check_label(resource, field="resource")
    path = check_file_path(path)
    with ctx.db.read() as db:
        resources.load_owner(db, actor, ref, Action.DELETE if overwrite else Action.UPLOAD)
    return path


def _check_tree(db: DBSession, resource: Resource, path: str) -> File | None:
    """The file already at ``path``, if any; refuses a path that clashes with a folder."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
    clash = db.scalar(
        select(File.path).where(
            File.resource_id == resource.id,
            or_(File.path.in_(prefixes), File.path.startswith(path + "/", autoescape=True)),
        )
    )
    if clash is not None:
        raise Conflict(
            f"'{path}' clashes with the existing file '{clash}' (a name cannot be both a file "
            "and a folder).",
            field="path",
        )
    return db.scalar(select(File).where(File.resource_id == resource.id, File.path == path))


def commit_upload(
    ctx: Context,
    actor: Actor,
    ref: OwnerRef,
    resource: str,
    path: str,
    staged: StagedFile,
    *,
    overwrite: bool = False,
    format: str | None = None,
    content: str | None = None,
) -> UploadResult:
    """Publish a staged file and record it; nothing is visible unless both succeed."""
    results = commit_uploads(
        ctx,
        actor,
        ref,
        resource,
        [(path, staged)],
        overwrite=overwrite,
        format=format,
        content=content,
    )
    return results[0]


def commit_uploads(
    ctx: Context,
    actor: Actor,
    ref: OwnerRef,
    resource: str,
    items: Sequence[tuple[str, StagedFile]],
    *,
    overwrite: bool = False,
    format: str | None = None,
    content: str | None = None,
) -> list[UploadResult]:
    """Publish staged files (checked paths, each named once) and record them, all or none:
    one catalog transaction, and the files published are taken back if it fails."""
    digests = [staged.finish() for _, staged in items]
    # The files replaced are kept until the commit, and put back if it fails.
    with Changes(ctx.store) as changes, ctx.db.write() as db:
        owner = resources.load_owner(db, actor, ref, Action.DELETE if overwrite else Action.UPLOAD)
        resources.hold_labels(db, owner)
        res = resources.find_or_create(db, owner, resource)
        results: list[UploadResult] = []
        for (path, staged), digest in zip(items, digests, strict=True):
            existing = _check_tree(db, res, path)
            if existing is not None and not overwrite:
                raise Conflict(
                    f"'{path}' already exists in resource '{resource}'; "
                    "ask for overwrite to replace it.",
                    field="path",
                )
            dest = ctx.archive_path(owner.resource_files_dir(res.label) / path)
            if existing is None:
                record = File(resource_id=res.id, path=path)
                db.add(record)
            else:
                if existing.sha256 != digest.sha256:
                    chosen = holds.files([existing.id])
                    holds.refuse_held(db, actor, chosen, doing=f"replace '{path}'")
                record = existing
            record.size, record.md5, record.sha256 = digest.size, digest.md5, digest.sha256
            record.crc32 = digest.crc32
            record.format = format if format is not None else record.format
            record.content = content if content is not None else record.content
            record.updated_at = utcnow()
            if existing is None:
                record.created_at = record.updated_at
            else:
                where = str(owner.resource_files_dir(res.label) / path)
                audit.record(
                    db, actor, AuditAction.FILE_REPLACED, project=ref.project, target=where
                )
            db.flush()
            changes.publish(staged, dest, overwrite=existing is not None)
            results.append(UploadResult(record, created=existing is None))
    return results


def locate(ctx: Context, actor: Actor, ref: OwnerRef, resource: str, path: str) -> Located:
    path = check_file_path(path)
    with ctx.db.read() as db:
        owner = resources.load_owner(db, actor, ref, Action.DOWNLOAD)
        res = resources.find(db, owner, resource, ref)
        record = db.scalar(select(File).where(File.resource_id == res.id, File.path == path))
        if record is None:
            raise NotFound(f"File '{path}' not found in resource '{resource}'.", field="path")
        return Located(record, ctx.archive_path(owner.resource_files_dir(res.label) / path))


def record_download(
    ctx: Context, actor: Actor, project: str, found: Located, *, range: str | None = None
) -> None:
    """Note in the audit log that ``found`` was sent (whole, or the ``range`` asked for)."""
    target = str(found.path.relative_to(ctx.store.archive))
    audit.record_now(
        ctx, actor, AuditAction.FILE_DOWNLOADED, project=project, target=target, range=range
    )


def list_files(
    ctx: Context,
    actor: Actor,
    ref: OwnerRef,
    resource: str,
    page: PageRequest,
    *,
    path: str | None = None,
) -> Page[File]:
    with ctx.db.read() as db:
        owner = resources.load_owner(db, actor, ref, Action.READ)
        res = resources.find(db, owner, resource, ref)
        stmt = select(File).where(File.resource_id == res.id)
        if path:
            stmt = stmt.where(like(File.path, path))
        return paginate(
            db,
            stmt,
            page,
            sort_fields={"path": File.path, "size": File.size, "created": File.created_at},
            default_sort="path",
            tiebreak=File.id,
        )


def delete(ctx: Context, actor: Actor, ref: OwnerRef, resource: str, path: str) -> None:
    path = check_file_path(path)
    with ctx.db.write() as db:
        owner = resources.load_owner(db, actor, ref, Action.DELETE)
        res = resources.find(db, owner, resource, ref)
        record = db.scalar(select(File).where(File.resource_id == res.id, File.path == path))
        if record is None:
            raise NotFound(f"File '{path}' not found in resource '{resource}'.", field="path")
        holds.refuse_held(db, actor, holds.files([record.id]), doing=f"delete '{path}'")
        db.delete(record)
        where = owner.resource_files_dir(res.label) / path
        audit.record(db, actor, AuditAction.FILE_DELETED, project=ref.project, target=str(where))
        dest = ctx.archive_path(where)
    ctx.store.remove_file(dest)
