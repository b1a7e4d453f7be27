"""The drop folder: files written by drop accounts, one folder per project
(``drops/{id}-{created}/`` in the data folder: see :func:`folder_name`), each file
catalogued as a :class:`DropItem`.

An upload is staged (storage/: a temporary name in ``tmp/``, hashed as it is written)
and given its name in the drop folder only when the client closes it (:meth:`Upload.close`,
the file marked pending: ingest/drop_pending.py); then it is fsynced and catalogued
(ingest/drop_settler.py), and only then offered to the project's matching rule and shown to
anyone. An upload that ends any other way (the client killed, the connection lost, the
quota reached) leaves nothing. A pending file whose process died before its catalog row
is settled at the next start (drop_settler.recover).

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
import logging
import os
import time
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
from scandepot.ingest import drop_pending
from scandepot.ingest.drop_quota import (
    IN_FLIGHT,
    QuotaExceeded,
    quota_and_rule,
    waiting,
)
from scandepot.ingest.sftp_signin import DropPrincipal
from scandepot.storage.changes import Changes
from scandepot.storage.store import StagedFile, StoredDigest, make_dirs

log = logging.getLogger("scandepot.drops")

FOLDER = "drops"
# What every refused write says, whatever the reason: a drop account learns nothing.
REFUSED = "Writing is not allowed here."


class NameTaken(Conflict):
    """A name already taken in the drop folder (by a file or a folder), said as any
    refused write is said."""

    def __init__(self) -> None:
        super().__init__(REFUSED, field="path")


def gone() -> Forbidden:
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


def folder(ctx: Context, project: Project) -> Path:
    return root(ctx) / folder_name(project.id, project.created_at)


def project_dir(ctx: Context, project: str) -> Path:
    """The drop folder of the project labelled ``project``."""
    with ctx.db.read() as db:
        found = db.scalar(select(Project).where(Project.label == project))
        if found is None:
            raise NotFound(f"No project '{project}'.", field="project")
        return folder(ctx, found)


def account_folder(ctx: Context, db: DBSession, who: DropPrincipal) -> Path:
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
        raise gone()
    return root(ctx) / folder_name(row[0], row[1])


def drop_path(parts: tuple[str, ...]) -> str:
    """The checked, normalised path of ``parts`` inside a drop folder."""
    return check_file_path("/".join(parts))


def make_folder(ctx: Context, who: DropPrincipal, parts: tuple[str, ...]) -> None:
    """Make a folder (and the folders above it) in the account's drop folder; one that
    exists already is no error (the account cannot look to see it)."""
    path = drop_path(parts)
    with ctx.db.read() as db:
        target = account_folder(ctx, db, who) / path
    if target.exists() and not target.is_dir():
        raise NameTaken()
    try:
        make_dirs(target)
    except (FileExistsError, NotADirectoryError):  # a file on the way
        raise NameTaken() from None


def is_folder(ctx: Context, who: DropPrincipal, parts: tuple[str, ...]) -> bool:
    with ctx.db.read() as db:
        base = account_folder(ctx, db, who)
    if not parts:
        return True
    target = base / drop_path(parts)
    return target.is_dir() and not target.is_symlink()


class Upload:
    """One file being dropped: bytes in order, then :meth:`close` (and settling:
    ingest/drop_settler.py, ``finish`` for one file at once) or :meth:`abort`."""

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
        self._synced_at = -1  # the bytes accepted at the last sync()
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

    def release(self) -> None:
        """Stop counting this upload's bytes as in flight (its row counts them now, or
        nothing does)."""
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

    def sync(self) -> None:
        """fsync the bytes written so far (the client asked: fsync@openssh.com)."""
        staged = self._staged
        if staged is None:
            raise Invalid("This upload has ended.", field="handle")
        staged.sync()
        self._synced_at = self._accepted

    def abort(self) -> None:
        if self._staged is not None:
            self._staged.discard()
            self._staged = None
        self.release()

    def close(self) -> Closed:
        """The client's close: no more bytes, and the file takes its name in the drop
        folder (a name taken meanwhile is refused, and the file goes), marked pending
        (ingest/drop_pending.py). Nothing is fsynced or catalogued yet: drop_settler.settle
        does both, for one closed file (drop_settler.finish) or a batch of them (the SFTP
        server's settler, after the close is answered). The bytes stay counted against
        the quota until then."""
        staged, self._staged = self._staged, None
        if staged is None:
            raise Invalid("This upload has ended.", field="handle")
        try:
            with staged:
                digest = staged.seal()
                try:
                    staged.link(self.dest)
                except Conflict:
                    raise NameTaken() from None
                try:
                    drop_pending.mark(self.dest, digest, self.who.account_id)
                except BaseException:
                    self.ctx.store.remove_file(self.dest)
                    raise
        except BaseException:
            self.release()
            raise
        synced = self._synced_at == self._accepted
        return Closed(self.ctx, self.who, self._folder, self.path, digest, self.rule, self, synced)


@dataclass(frozen=True, slots=True)
class Closed:
    """An upload its client has closed: named in the drop folder, not yet settled."""

    ctx: Context
    who: DropPrincipal
    folder: Path
    path: str
    digest: StoredDigest
    rule: str  # the project's matching rule as the upload began
    upload: Upload | None  # whose bytes count against the quota until the row is committed
    synced: bool  # fsynced after its last byte (fsync@openssh.com): its folder's is left

    @property
    def dest(self) -> Path:
        return self.folder / self.path


@dataclass(frozen=True, slots=True)
class Grant:
    """Where a drop account writes and under what quota and rule, as read at ``read_at``
    (``time.monotonic()``): a session may keep it a moment (:func:`begin`)."""

    folder: Path
    quota: int | None
    rule: str
    read_at: float


def grant(ctx: Context, who: DropPrincipal) -> Grant:
    """The account's grant, while the account is there and enabled."""
    with ctx.db.read() as db:
        folder = account_folder(ctx, db, who)
        quota, rule = quota_and_rule(db, who.project_id)
    return Grant(folder, quota, rule, time.monotonic())


def begin(
    ctx: Context, who: DropPrincipal, parts: tuple[str, ...], granted: Grant | None = None
) -> Upload:
    """Start an upload to ``parts`` in the account's drop folder: its folder must exist,
    its name must be free, and the project must have room (counting the bytes of its
    uploads running here).

    ``granted``: the account's :func:`grant` as the caller read it a moment ago (an
    SFTP session, for the files a client sends one after the other), else read here.
    The bytes that wait are read here in either case when the project has a quota; a
    project without one reads nothing from the catalog."""
    path = drop_path(parts)
    if granted is None:
        granted = grant(ctx, who)
    folder, quota, rule = granted.folder, granted.quota, granted.rule
    used = 0
    if quota is not None:
        with ctx.db.read() as db:
            used = waiting(db, who.project_id)
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
