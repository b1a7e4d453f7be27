"""The source project's own resources, copied once per transfer when resources are asked
for: each into the destination project under its label, unless one of that label is
there already (then left out, and the report says so). They are compared like the
sessions' files; a move never deletes them (they belong to the project, not to the
sessions moved).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from scandepot.archive import layout
from scandepot.catalog.archive import File, Project, Resource
from scandepot.catalog.transfers import Transfer
from scandepot.context import Context
from scandepot.storage.changes import Changes, undo_journal
from scandepot.transfers import copying
from scandepot.transfers.verify import Compared, Key, compare_files

DONE = "project_resources"  # the report's key, once they are copied (committed with them)


def journal_path(ctx: Context, transfer_id: int) -> Path:
    return ctx.store.tmp / f"transfer-{transfer_id}-project.journal"


def copy(ctx: Context, transfer_id: int) -> dict[str, Any]:
    """Copy them (or find them copied by an earlier run); what was copied and left out."""
    path = journal_path(ctx, transfer_id)
    with ctx.db.read() as db:
        transfer = db.get(Transfer, transfer_id)
        assert transfer is not None
        if DONE in transfer.report:
            path.unlink(missing_ok=True)
            return dict(transfer.report[DONE])
    if path.exists():
        undo_journal(ctx.store, path)  # a run killed before its commit
    out = copying.Copied()
    with Changes(ctx.store, journal=path) as changes, ctx.db.write() as db:
        transfer = db.get(Transfer, transfer_id)
        assert transfer is not None
        source = db.get(Project, transfer.source_project_id)
        dest = db.get(Project, transfer.dest_project_id)
        assert source is not None and dest is not None
        target = layout.Owner(dest)
        for resource in db.scalars(
            select(Resource).where(Resource.parent_key == f"project:{source.id}")
        ):
            there = db.scalar(
                select(Resource.id).where(
                    Resource.parent_key == target.key, Resource.label == resource.label
                )
            )
            if there is not None:
                out.left_out.append(
                    f"project resource {resource.label} (one of that label is there)"
                )
                continue
            copying.copy_resource(ctx, db, changes, resource, layout.Owner(source), target, out)
        changes.sync_folders(sorted(out.folders))
        done = {"copied": out.copied, "left_out": out.left_out, "files": out.files}
        transfer.report = {**transfer.report, DONE: done}
        transfer.files_done += out.files
    return done


def _files(
    ctx: Context, db: Any, project: Project, labels: list[str]
) -> dict[Key, tuple[int, str, Path]]:
    owner = layout.Owner(project)
    out: dict[Key, tuple[int, str, Path]] = {}
    rows = db.execute(
        select(Resource.label, File.path, File.size, File.sha256)
        .join(File, File.resource_id == Resource.id)
        .where(Resource.parent_key == owner.key, Resource.label.in_(labels))
    )
    for label, path, size, sha256 in rows:
        folder = ctx.archive_path(owner.resource_files_dir(label))
        out[(f"project:{label}", path)] = (int(size), str(sha256), folder / path)
    return out


def compare(ctx: Context, transfer: Transfer, *, read_bytes: bool) -> Compared:
    copied = [w.partition(":")[2] for w in transfer.report.get(DONE, {}).get("copied", [])]
    out = Compared(by=["catalog", "bytes"] if read_bytes else ["catalog"])
    with ctx.db.read() as db:
        source = db.get(Project, transfer.source_project_id)
        dest = db.get(Project, transfer.dest_project_id)
        if source is None or dest is None:
            out.wrong("the source or the destination project is gone")
            return out
        before, after = _files(ctx, db, source, copied), _files(ctx, db, dest, copied)
    compare_files(before, after, out, read_bytes=read_bytes)
    return out
