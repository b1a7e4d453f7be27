"""The drop folder: files written by drop accounts, one folder per project
(``drops/{id}-{created}/`` in the data folder: see :func:`folder_name`), each file
catalogued as a :class:`DropItem`.

An upload is staged (storage/: a temporary name in ``tmp/``, hashed as it is written),
fsynced and given its name in the drop folder only when the client closes it; only then
is it catalogued and offered to the project's matching rule. An upload that ends any
other way (the client killed, the connection lost, the quota reached) leaves nothing.

The project's quota bounds the bytes that wait unmatched: an upload that would pass it is
refused as it passes it, and its partial file removed. Uploads running at once in this
process count each other's bytes as they arrive; the check that holds across processes
is the last one, in the transaction that catalogues a file (the project's rule row
locked), which refuses a file the quota has no room for and removes it.

What a drop account is refused tells it nothing of what is there: a name taken, by a
file or by a folder, is refused as any write is (:class:`NameTaken`).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, load_project, permission_clause
from scandepot.catalog.archive import Project
from scandepot.catalog.drops import DropAccount, DropItem, DropState, MatchRule
from scandepot.catalog.labels import check_file_path
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound
from scandepot.ingest.drop_quota import IN_FLIGHT, QuotaExceeded, last_check, room
from scandepot.ingest.sftp_signin import DropPrincipal
from scandepot.storage.changes import Changes
from scandepot.storage.store import StagedFile, fsync_dir, make_dirs

FOLDER = "drops"
# Where a closing upload's fsync runs while its folder's runs on the caller's thread.
_SYNCS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="drop-fsync")
# What every refused write says, whatever the reason: a drop account learns nothing.
REFUSED = "Writing is not allowed here."


class NameTaken(Conflict):
    """A name already taken in the drop folder (by a file or a folder), said as any
    refused write is said."""

    def __init__(self) -> None:
        super().__init__(REFUSED, field="path")


def _gone() -> Forbidden:
    """The drop account or its project no longer exists (or the account was disabled)."""
    return Forbidden(REFUSED)


@dataclass(frozen=True, slots=True)
class UnmatchedDrop:
    """A dropped file waiting to be matched, as retention and the prearchive pages see it."""

    id: int
    project: str
    path: str
    size: int
    dropped_at: dt.datetime
    age_s: float


def root(ctx: Context) -> Path:
    return ctx.store.data_dir / FOLDER


def folder_name(project_id: int, created_at: dt.datetime) -> str:
    """The name of a project's drop folder: its id and the moment it was made. A folder
    left by a deleted project is never a later project's, whatever that one's label, nor
    whatever its id (SQLite gives a deleted last row's id again)."""
    return f"{project_id}-{created_at.astimezone(dt.UTC):%Y%m%dT%H%M%S%f}"


def _made_at(name: str) -> dt.datetime | None:
    """When the project of the drop folder ``name`` was made; None for another name."""
    project_id, _, made = name.partition("-")
    try:
        int(project_id)
        return dt.datetime.strptime(made, "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def folder(ctx: Context, project: Project) -> Path:
    return root(ctx) / folder_name(project.id, project.created_at)


def project_dir(ctx: Context, project: str) -> Path:
    """The drop folder of the project labelled ``project``."""
    with ctx.db.read() as db:
        found = db.scalar(select(Project).where(Project.label == project))
        if found is None:
            raise NotFound(f"No project '{project}'.", field="project")
        return folder(ctx, found)


def _account_folder(ctx: Context, db: DBSession, who: DropPrincipal) -> Path:
    """The drop folder of ``who``'s project, while the account is there and enabled."""
    row = db.execute(
        select(Project.id, Project.created_at)
        .join(DropAccount, DropAccount.project_id == Project.id)
        .where(
            DropAccount.id == who.account_id,
            DropAccount.username == who.username,
            Project.id == who.project_id,
            DropAccount.enabled.is_(True),
        )
    ).first()
    if row is None:
        raise _gone()
    return root(ctx) / folder_name(row[0], row[1])


def drop_path(parts: tuple[str, ...]) -> str:
    """The checked, normalised path of ``parts`` inside a drop folder."""
    return check_file_path("/".join(parts))


def make_folder(ctx: Context, who: DropPrincipal, parts: tuple[str, ...]) -> None:
    """Make a folder (and the folders above it) in the account's drop folder; one that
    exists already is no error (the account cannot look to see it)."""
    path = drop_path(parts)
    with ctx.db.read() as db:
        target = _account_folder(ctx, db, who) / path
    if target.exists() and not target.is_dir():
        raise NameTaken()
    try:
        make_dirs(target)
    except (FileExistsError, NotADirectoryError):  # a file on the way
        raise NameTaken() from None


def is_folder(ctx: Context, who: DropPrincipal, parts: tuple[str, ...]) -> bool:
    with ctx.db.read() as db:
        base = _account_folder(ctx, db, who)
    if not parts:
        return True
    target = base / drop_path(parts)
    return target.is_dir() and not target.is_symlink()


class Upload:
    """One file being dropped: bytes in order, then :meth:`finish` or :meth:`abort`."""

    def __init__(
        self,
        ctx: Context,
        who: DropPrincipal,
        folder: Path,
        path: str,
        quota: int | None,
        used: int,
    ) -> None:
        self.ctx, self.who, self.path = ctx, who, path
        self._folder, self.dest = folder, folder / path
        self._quota, self._used = quota, used
        self._accepted = 0
        self._reserved = 0  # counted in IN_FLIGHT
        self._refused = False
        self.rule = MatchRule.NONE.value  # the project's matching rule as it began
        self._staged: StagedFile | None = ctx.store.stage()

    @property
    def ended(self) -> bool:
        """Finished, or aborted (the quota reached, the client gone)."""
        return self._staged is None

    @property
    def size(self) -> int:
        """The bytes accepted so far."""
        return self._accepted

    def accept(self, offset: int, length: int) -> None:
        """Check that ``length`` bytes at ``offset`` may come next (in order, within the
        quota, with the bytes of the project's other uploads running here) before they
        are written. Over the quota the upload is refused from then on; the caller
        aborts it once no byte is being written."""
        if self._staged is None or self._refused:
            raise Invalid("This upload has ended.", field="handle")
        if offset != self._accepted:
            raise Invalid("Bytes must be written in order, from the start.", field="offset")
        if self._quota is not None:
            limit = self._quota - self._used
            if not IN_FLIGHT.take(self.who.project_id, length, limit=limit):
                self._refused = True
                raise QuotaExceeded(self.who.project, self._quota)
            self._reserved += length
        self._accepted += length

    def _release(self) -> None:
        if self._reserved:
            IN_FLIGHT.give_back(self.who.project_id, self._reserved)
            self._reserved = 0

    def put(self, data: bytes) -> None:
        """Write bytes :meth:`accept` let through (from any one thread at a time)."""
        staged = self._staged
        if staged is None:
            raise Invalid("This upload has ended.", field="handle")
        staged.write(data)

    def write(self, offset: int, data: bytes) -> None:
        """:meth:`accept` and :meth:`put` in one; over the quota the upload is aborted."""
        try:
            self.accept(offset, len(data))
        except QuotaExceeded:
            self.abort()
            raise
        self.put(data)

    def abort(self) -> None:
        if self._staged is not None:
            self._staged.discard()
            self._staged = None
        self._release()

    def finish(self) -> int:
        """Make the file visible and catalogue it; returns its drop item's id.

        The name is linked before the file's fsync, as the DICOM receiver files instances
        (storage/store.py), and the file's fsync and its folder's run at once: the name
        and the bytes go in one journal commit. The catalog's commit follows both, and
        the close is answered after it; the quota is checked a last time in it, and a
        file it has no room for is removed, as is one whose account went meanwhile."""
        staged, self._staged = self._staged, None
        if staged is None:
            raise Invalid("This upload has ended.", field="handle")
        dest = self.dest
        try:
            with staged:
                staged.end()
                try:
                    staged.link(dest)  # a name taken meanwhile: refused, the file goes
                except Conflict:
                    raise NameTaken() from None
                try:
                    return self._catalogue(staged, dest)
                except BaseException:
                    self.ctx.store.remove_file(dest)
                    raise
        finally:
            self._release()

    def _catalogue(self, staged: StagedFile, dest: Path) -> int:
        staged.sync_in(_SYNCS)  # the file's fsync and its folder's, at once
        fsync_dir(dest.parent)
        digest = staged.finish()
        with self.ctx.db.write() as db:
            if _account_folder(self.ctx, db, self.who) != self._folder:
                raise _gone()  # the project was made again since (SQLite gives ids again)
            last_check(db, self.who.project_id, self.who.project, digest.size)
            item = DropItem(
                project_id=self.who.project_id,
                account_id=self.who.account_id,
                path=self.path,
                size=digest.size,
                md5=digest.md5,
                sha256=digest.sha256,
            )
            db.add(item)
            db.flush()
            return item.id


def begin(ctx: Context, who: DropPrincipal, parts: tuple[str, ...]) -> Upload:
    """Start an upload to ``parts`` in the account's drop folder: its folder must exist,
    its name must be free, and the project must have room (counting the bytes of its
    uploads running here)."""
    path = drop_path(parts)
    with ctx.db.read() as db:
        folder = _account_folder(ctx, db, who)
        quota, used, rule = room(db, who.project_id)
    parent = (folder / path).parent
    if parent != folder and not (parent.is_dir() and not parent.is_symlink()):
        raise NotFound("The folder to write in does not exist.", field="path")
    if os.path.lexists(folder / path):
        raise NameTaken()
    if quota is not None and used + IN_FLIGHT.of(who.project_id) >= quota:
        raise QuotaExceeded(who.project, quota)
    upload = Upload(ctx, who, folder, path, quota, used)
    upload.rule = rule
    return upload


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
        new = folder(ctx, project) / path
        if old.is_file() and not old.is_symlink() and not new.exists():
            ctx.store.move_tree(old, new)


def sweep(ctx: Context, *, older_than_s: float = 24 * 3600) -> int:
    """Remove what the drop folders hold and the catalog does not: the folder of a
    project that no longer exists, whatever its age (a project's delete forgets its
    drops, and no later project can reach its folder), and files no unmatched drop
    names older than ``older_than_s``, which a server killed between a file's name and
    its catalog row left behind (the client was never told it was kept). Returns how
    many files went."""
    base = root(ctx)
    if not base.is_dir():
        return 0
    _adopt_label_folders(ctx, base)
    # A project made as this runs may not be read below yet: only folders of projects
    # made well before are judged.
    settled = utcnow() - dt.timedelta(hours=1)
    with ctx.db.read() as db:
        live = {folder_name(i, at) for i, at in db.execute(select(Project.id, Project.created_at))}
        known = {
            f"{folder_name(project_id, created)}/{path}"
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


def _unmatched(project: Project, item: DropItem, now: dt.datetime) -> UnmatchedDrop:
    age = (now - item.dropped_at).total_seconds()
    return UnmatchedDrop(item.id, project.label, item.path, item.size, item.dropped_at, age)


def unmatched_drops(ctx: Context, *, project: str | None = None) -> list[UnmatchedDrop]:
    """Every unmatched drop (of one project, or all), oldest first, with its age: for
    retention, which runs as the system."""
    now = utcnow()
    stmt = (
        select(DropItem, Project)
        .join(Project, Project.id == DropItem.project_id)
        .where(DropItem.state == DropState.UNMATCHED.value)
        .order_by(DropItem.dropped_at, DropItem.id)
    )
    if project is not None:
        stmt = stmt.where(Project.label == project)
    with ctx.db.read() as db:
        return [_unmatched(p, item, now) for item, p in db.execute(stmt).all()]


@dataclass(frozen=True, slots=True)
class DropEntry:
    """What was dropped at the top of a drop folder and waits: a file, or a folder and
    the files in it."""

    project: str
    entry: str
    is_folder: bool
    files: int
    size: int
    dropped_at: dt.datetime  # its first file's


def unmatched_entries(ctx: Context, actor: Actor, *, project: str | None = None) -> list[DropEntry]:
    """The unmatched drops of the projects whose prearchive ``actor`` sees, by entry."""
    stmt = (
        select(DropItem, Project.label)
        .join(Project, Project.id == DropItem.project_id)
        .where(
            DropItem.state == DropState.UNMATCHED.value,
            permission_clause(actor, Action.PREARCHIVE.level),
        )
        .order_by(Project.label, DropItem.path)
    )
    if project is not None:
        stmt = stmt.where(Project.label == project)
    found: dict[tuple[str, str], DropEntry] = {}
    with ctx.db.read() as db:
        for item, label in db.execute(stmt).all():
            top = item.path.split("/", 1)[0]
            was = found.get((label, top))
            if was is None:
                was = DropEntry(label, top, "/" in item.path, 0, 0, item.dropped_at)
            found[label, top] = DropEntry(
                label,
                top,
                was.is_folder,
                was.files + 1,
                was.size + item.size,
                min(was.dropped_at, item.dropped_at),
            )
    return list(found.values())


def list_unmatched(ctx: Context, actor: Actor, project: str) -> list[UnmatchedDrop]:
    """The project's unmatched drops, for those who may see its prearchive."""
    with ctx.db.read() as db:
        load_project(db, actor, project, Action.PREARCHIVE)
    return unmatched_drops(ctx, project=project)


def discard(ctx: Context, db: DBSession, changes: Changes, drop_id: int) -> bool:
    """Remove the unmatched drop ``drop_id`` in the caller's transaction (``db``), its
    file set aside through ``changes`` (put back if the transaction fails), audited as
    the system's; False when it is gone or matched. For retention, which deletes many
    in one run."""
    row = db.execute(
        select(DropItem, Project)
        .join(Project, Project.id == DropItem.project_id)
        .where(DropItem.id == drop_id, DropItem.state == DropState.UNMATCHED.value)
    ).first()
    if row is None:
        return False
    item, found = row
    db.delete(item)
    audit.record(
        db,
        SYSTEM,
        AuditAction.DROP_DELETED,
        project=found.label,
        target=f"drop/{item.path}",
        size=item.size,
    )
    path = folder(ctx, found) / item.path
    if path.exists():
        changes.set_aside(path)
    return True


def delete_drop(
    ctx: Context, drop_id: int, *, actor: Actor = SYSTEM, project: str | None = None
) -> bool:
    """Delete an unmatched drop (of ``project``, when given): its file and its row,
    audited. False when there is no such unmatched drop (deleted or matched meanwhile).
    Site work (retention) passes SYSTEM; anyone else must be allowed to archive into the
    project."""
    with ctx.db.write() as db:
        if project is not None:
            load_project(db, actor, project, Action.ARCHIVE)
        stmt = (
            select(DropItem, Project)
            .join(Project, Project.id == DropItem.project_id)
            .where(DropItem.id == drop_id, DropItem.state == DropState.UNMATCHED.value)
        )
        if project is not None:
            stmt = stmt.where(Project.label == project)
        row = db.execute(stmt).first()
        if row is None:
            return False
        item, found = row
        load_project(db, actor, found.label, Action.ARCHIVE)
        db.delete(item)
        audit.record(
            db,
            actor,
            AuditAction.DROP_DELETED,
            project=found.label,
            target=f"drop/{item.path}",
            size=item.size,
        )
        path = folder(ctx, found) / item.path
    ctx.store.remove_file(path)
    return True
