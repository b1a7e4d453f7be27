"""What the SFTP server's start clears from the drop folders: the folders of projects that
no longer exist, files no catalog row names once they are a day old (a server killed
between a file's name and its pending mark: its client was never told it was kept), and
drops kept by project label by an earlier version, moved to their project's folder.
Files whose close was answered are settled first (ingest/drop_settler.py, ``recover``)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from sqlalchemy import select

from scandepot.catalog.archive import Project
from scandepot.catalog.drops import DropItem, DropState
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.ingest import drops


def _made_at(name: str) -> dt.datetime | None:
    """When the project of the drop folder ``name`` was made; None for another name."""
    project_id, _, made = name.partition("-")
    try:
        int(project_id)
        return dt.datetime.strptime(made, "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _adopt_label_folders(ctx: Context, base: Path) -> None:
    """Move the files of unmatched drops from ``drops/{label}/``, where drops were kept
    before, into their project's folder. Only files a catalog row names: one that a
    deleted project of the same label left was never catalogued for the later one (its
    name was taken), and stays behind for the sweep."""
    with ctx.db.read() as db:
        rows = db.execute(
            select(DropItem.path, Project)
            .join(Project, Project.id == DropItem.project_id)
            .where(DropItem.state == DropState.UNMATCHED.value)
        ).all()
    for path, project in rows:
        old = base / project.label / path
        new = drops.folder(ctx, project) / path
        if old.is_file() and not old.is_symlink() and not new.exists():
            ctx.store.move_tree(old, new)


def sweep(ctx: Context, *, older_than_s: float = 24 * 3600) -> int:
    """Remove what the drop folders hold and the catalog does not: the folder of a
    project that no longer exists, whatever its age (a project's delete forgets its
    drops, and no later project can reach its folder), and files no unmatched drop
    names older than ``older_than_s``, which a server killed between a file's name and
    its catalog row left behind (the client was never told it was kept). Returns how
    many files went."""
    base = drops.root(ctx)
    if not base.is_dir():
        return 0
    _adopt_label_folders(ctx, base)
    # A project made as this runs may not be read below yet: only folders of projects
    # made well before are judged.
    settled = utcnow() - dt.timedelta(hours=1)
    with ctx.db.read() as db:
        live = {
            drops.folder_name(i, at) for i, at in db.execute(select(Project.id, Project.created_at))
        }
        known = {
            f"{drops.folder_name(project_id, created)}/{path}"
            for path, project_id, created in db.execute(
                select(DropItem.path, Project.id, Project.created_at)
                .join(Project, Project.id == DropItem.project_id)
                .where(DropItem.state == DropState.UNMATCHED.value)
            )
        }
    removed = 0
    for entry in base.iterdir():
        made = _made_at(entry.name)
        if made is None or made > settled or entry.name in live:
            continue
        if entry.is_dir() and not entry.is_symlink():
            removed += sum(1 for p in entry.rglob("*") if p.is_file())
            ctx.store.remove_tree(entry)
    cutoff = time.time() - older_than_s
    for path in base.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
            if path.relative_to(base).as_posix() not in known:
                ctx.store.remove_file(path)
                removed += 1
    return removed
