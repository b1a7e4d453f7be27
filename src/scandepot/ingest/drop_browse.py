"""What a researcher sees over SFTP, read-only: one folder per project they may read,
holding the project's drop folder (``drop/``, what waits to be matched) and the archive's
own folders in the archive layout (``subjects/.../sessions/.../scans/.../resources/...``,
``resources/``), so that any SFTP client can download them.

Each request is checked again through archive's loader (the one check, READ): a role
taken away takes the folder away at once. Symbolic links are never followed or shown,
nor are hidden names (a file being published has a hidden side name for a moment).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Level, permission_clause
from scandepot.archive import projects
from scandepot.catalog.archive import Project
from scandepot.context import Context
from scandepot.errors import NotFound
from scandepot.ingest import drops

DROP = "drop"


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    is_dir: bool
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Node:
    """A place in the view: a real file or folder, or one of the made-up folders (the
    top, a project) with ``path`` None."""

    path: Path | None
    is_dir: bool
    project: str | None = None


def entry_of(node: Node) -> Entry:
    """What a listing shows of ``node``."""
    if node.path is None:
        return Entry("", True, 0, 0)
    info = node.path.stat()
    return Entry(node.path.name, node.is_dir, info.st_size, info.st_mtime)


def readable_projects(ctx: Context, actor: Actor) -> list[str]:
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(Project.label)
                .where(permission_clause(actor, Level.READ))
                .order_by(Project.label)
            )
        )


def _missing(parts: tuple[str, ...]) -> NotFound:
    return NotFound(f"'/{'/'.join(parts)}' does not exist.", field="path")


def resolve(ctx: Context, actor: Actor, parts: tuple[str, ...]) -> Node:
    if not parts:
        return Node(None, True)
    label = projects.readable(ctx, actor, parts[0])
    if len(parts) == 1:
        return Node(None, True, label)
    if parts[1] == DROP:
        base, rest = drops.project_dir(ctx, label), parts[2:]
    else:
        base, rest = ctx.store.archive / label, parts[1:]
    if any(p.startswith(".") for p in rest):
        raise _missing(parts)
    path = base.joinpath(*rest)
    try:
        mode = path.lstat().st_mode
    except OSError:
        if parts[1] == DROP and not rest:
            return Node(None, True, label)  # nothing dropped yet
        raise _missing(parts) from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise _missing(parts)
    return Node(path, stat.S_ISDIR(mode), label)


def _entries(folder: Path) -> list[Entry]:
    found: list[Entry] = []
    try:
        scan = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for item in scan:
        if item.name.startswith(".") or item.is_symlink():
            continue
        info = item.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
            found.append(Entry(item.name, item.is_dir(), info.st_size, info.st_mtime))
    return sorted(found, key=lambda e: e.name)


def listing(ctx: Context, actor: Actor, parts: tuple[str, ...]) -> list[Entry]:
    node = resolve(ctx, actor, parts)
    if not node.is_dir:
        raise NotFound(f"'/{'/'.join(parts)}' is not a folder.", field="path")
    if not parts:
        return [Entry(label, True, 0, 0) for label in readable_projects(ctx, actor)]
    if len(parts) == 1:
        assert node.project is not None
        inside = _entries(ctx.store.archive / node.project)
        return [Entry(DROP, True, 0, 0), *(e for e in inside if e.name != DROP)]
    return [] if node.path is None else _entries(node.path)


def open_file(ctx: Context, actor: Actor, parts: tuple[str, ...]) -> int:
    """A descriptor open for reading on the file at ``parts``; the download is audited."""
    node = resolve(ctx, actor, parts)
    if node.is_dir or node.path is None:
        raise NotFound(f"'/{'/'.join(parts)}' is not a file.", field="path")
    fd = os.open(node.path, os.O_RDONLY | os.O_NOFOLLOW)
    # Named as HTTP downloads name it: its path in the archive (or in the drop folder).
    where = node.path.relative_to(ctx.store.data_dir)
    target = str(where.relative_to("archive")) if where.parts[0] == "archive" else str(where)
    audit.record_now(ctx, actor, AuditAction.FILE_DOWNLOADED, project=node.project, target=target)
    return fd


def read_at(fd: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes of an open file from ``offset``; empty at its end."""
    return os.pread(fd, size, offset)


def close_file(fd: int) -> None:
    os.close(fd)


def file_size(fd: int) -> tuple[int, float]:
    """The open file's size and modification time."""
    info = os.fstat(fd)
    return info.st_size, info.st_mtime
