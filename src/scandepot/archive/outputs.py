"""Publish folders of generated files (pipeline outputs) into resources, all or nothing.

Each folder, written beforehand under ``tmp/`` (the archive's file system), replaces the
whole content of one resource: its files are fsynced and hashed, then in one catalog
transaction the resource's old rows give way to the new ones while on disk the old
``files/`` folder is renamed into the trash and the new one renamed into place. If the
transaction fails the renames are undone, so either every folder of a call is catalogued
and visible or none is, and what was there before stays.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import SYSTEM
from scandepot.archive import holds, resources
from scandepot.archive.layout import Owner
from scandepot.catalog.archive import File, Scan, Session
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import NotFound
from scandepot.storage.changes import Changes
from scandepot.storage.store import StoredDigest, file_digest, fsync_dir


@dataclass(frozen=True, slots=True)
class OutputFolder:
    """``folder``'s files become the resource ``label`` of a session or of one of its scans."""

    folder: Path
    label: str
    session_id: int
    scan_id: int | None = None
    format: str | None = None
    content: str | None = None


def _prepare(folder: Path) -> dict[str, StoredDigest]:
    files: dict[str, StoredDigest] = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            files[path.relative_to(folder).as_posix()] = file_digest(path, sync=True)
        fsync_dir(Path(root))
    return files


def _owner(db: DBSession, item: OutputFolder) -> Owner:
    session = db.get(Session, item.session_id)
    if session is None:
        raise NotFound("The session was deleted meanwhile.", field="session")
    if item.scan_id is None:
        return Owner(session.project, session.subject, session)
    scan = db.get(Scan, item.scan_id)
    if scan is None:
        raise NotFound("The scan was deleted meanwhile.", field="scan")
    return Owner(session.project, session.subject, session, scan)


def publish(
    ctx: Context,
    items: Sequence[OutputFolder],
    *,
    in_transaction: Callable[[DBSession], None] | None = None,
) -> dict[str, list[str]]:
    """Publish every folder (see the module docstring). ``in_transaction`` runs inside the
    catalog transaction (to check and record the job that made the outputs). Returns, per
    archive path of a resource's folder, the files published there."""
    prepared = [(item, _prepare(item.folder)) for item in items]
    published: dict[str, list[str]] = {}
    # Leaving the inner block commits; the folders move back if that fails.
    with Changes(ctx.store) as changes, ctx.db.write() as db:
        if in_transaction is not None:
            in_transaction(db)
        for item, files in prepared:
            owner = _owner(db, item)
            resources.hold_labels(db, owner)
            res = resources.find_or_create(db, owner, item.label)
            if item.format is not None:
                res.format = item.format
            if item.content is not None:
                res.content = item.content
            chosen = holds.of_resource(res.id)
            holds.refuse_held(db, SYSTEM, chosen, doing=f"replace resource '{item.label}'")
            db.execute(delete(File).where(File.resource_id == res.id))
            now = utcnow()
            for path, digest in sorted(files.items()):
                db.add(
                    File(
                        resource_id=res.id,
                        path=path,
                        size=digest.size,
                        md5=digest.md5,
                        sha256=digest.sha256,
                        crc32=digest.crc32,
                        format=_format_of(path),
                        created_at=now,
                        updated_at=now,
                    )
                )
            db.flush()
            where = owner.resource_files_dir(item.label)
            dest = ctx.archive_path(where)
            changes.set_aside(dest)  # the old files: into the trash at the commit
            changes.move_tree(item.folder, dest)
            published[str(where)] = sorted(files)
    return published


def _format_of(path: str) -> str | None:
    name = path.lower()
    for suffix, kind in (
        (".nii.gz", "NIFTI"),
        (".nii", "NIFTI"),
        (".json", "JSON"),
        (".png", "PNG"),
        (".bval", "BVAL"),
        (".bvec", "BVEC"),
    ):
        if name.endswith(suffix):
            return kind
    return None


def resource_dir(ctx: Context, session_id: int, scan_id: int | None, label: str) -> Path | None:
    """Where a resource's files are on disk, or None when the resource does not exist."""
    from scandepot.catalog.archive import Resource

    with ctx.db.read() as db:
        owner = _owner(db, OutputFolder(Path(), label, session_id, scan_id))
        found = db.scalar(
            select(Resource.id).where(Resource.parent_key == owner.key, Resource.label == label)
        )
        if found is None:
            return None
        return ctx.archive_path(owner.resource_files_dir(label))
