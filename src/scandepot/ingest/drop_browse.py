"""What a researcher sees over SFTP, read-only: one folder per project they may read,
holding the project's drop folder (``drop/``, what waits to be matched) and the archive's
own folders in the archive layout (``subjects/.../sessions/.../scans/.../resources/...``,
``resources/``), so that any SFTP client can download them.

``drop/`` shows what the catalog holds for the project (its unmatched drop rows), never
what a folder on disk happens to hold: a file not catalogued (one being published, one a
killed server left) is not there, nor is anything a deleted project left behind.

Each request is checked again through archive's loader (the one check, READ): a role
taken away takes the folder away at once. Symbolic links are never followed or shown,
nor are hidden names (a file being published has a hidden side name for a moment).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, select

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Level, permission_clause
from scandepot.archive import projects
from scandepot.catalog.archive import Project
from scandepot.catalog.drops import DropItem, DropState
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
    # In drop/: the project's id and the folder's path there ('' at the top), for a
    # folder; what the catalog says, for a file.
    drop: tuple[int, str] | None = None
    entry: Entry | None = None


def entry_of(node: Node) -> Entry:
    """What a listing shows of ``node``."""
    if node.entry is not None:
        return node.entry
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


def _unmatched(project_id: int) -> list[ColumnElement[bool]]:
    return [DropItem.project_id == project_id, DropItem.state == DropState.UNMATCHED.value]


def _drop_node(ctx: Context, label: str, parts: tuple[str, ...]) -> Node:
    """A place in the project's drop/, as its catalog rows have it."""
    rest = parts[2:]
    with ctx.db.read() as db:
        project = db.scalar(select(Project).where(Project.label == label))
        if project is None:
            raise _missing(parts)
        if not rest:
            return Node(None, True, label, drop=(project.id, ""))
        path = "/".join(rest)
        where = _unmatched(project.id)
        item = db.execute(
            select(DropItem.size, DropItem.dropped_at).where(*where, DropItem.path == path)
        ).first()
        if item is not None:
            entry = Entry(rest[-1], False, item[0], item[1].timestamp())
            return Node(drops.folder(ctx, project) / path, False, label, entry=entry)
        inside = select(DropItem.id).where(
            *where, DropItem.path.startswith(path + "/", autoescape=True)
        )
        if db.scalar(inside.limit(1)) is None:
            raise _missing(parts)
    return Node(None, True, label, drop=(project.id, path))


def resolve(ctx: Context, actor: Actor, parts: tuple[str, ...]) -> Node:
    if not parts:
        return Node(None, True)
    label = projects.readable(ctx, actor, parts[0])
    if len(parts) == 1:
        return Node(None, True, label)
    if any(p.startswith(".") for p in parts[1:]):
        raise _missing(parts)
    if parts[1] == DROP:
        return _drop_node(ctx, label, parts)
    path = (ctx.store.archive / label).joinpath(*parts[1:])
    try:
        mode = path.lstat().st_mode
    except OSError:
        raise _missing(parts) from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise _missing(parts)
    return Node(path, stat.S_ISDIR(mode), label)


def _drop_entries(ctx: Context, project_id: int, folder: str) -> list[Entry]:
    """What the catalog holds in ``folder`` of a project's drop/: its files, and the
    folders that hold files."""
    stmt = select(DropItem.path, DropItem.size, DropItem.dropped_at).where(*_unmatched(project_id))
    if folder:
        stmt = stmt.where(DropItem.path.startswith(folder + "/", autoescape=True))
    skip = len(folder) + 1 if folder else 0
    found: dict[str, Entry] = {}
    with ctx.db.read() as db:
        for path, size, dropped_at in db.execute(stmt):
            name, _, deeper = path[skip:].partition("/")
            if name.startswith("."):
                continue
            if deeper:
                found.setdefault(name, Entry(name, True, 0, dropped_at.timestamp()))
            else:
                found[name] = Entry(name, False, size, dropped_at.timestamp())
    return sorted(found.values(), key=lambda e: e.name)


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
    if node.drop is not None:
        return _drop_entries(ctx, *node.drop)
    return [] if node.path is None else _entries(node.path)


def open_file(ctx: Context, actor: Actor, parts: tuple[str, ...]) -> int:
    """A descriptor open for reading on the file at ``parts``; the download is audited."""
    node = resolve(ctx, actor, parts)
    if node.is_dir or node.path is None:
        raise NotFound(f"'/{'/'.join(parts)}' is not a file.", field="path")
    try:
        fd = os.open(node.path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise NotFound(f"'/{'/'.join(parts)}' is not a file.", field="path") from None
    # Named as HTTP downloads name it: its path in the archive; as drops are named in the
    # audit log, drop/{path}, in the drop folder.
    if node.entry is not None:
        target = "/".join(parts[1:])
    else:
        target = str(node.path.relative_to(ctx.store.archive))
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
