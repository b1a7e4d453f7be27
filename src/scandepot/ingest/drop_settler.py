"""Closed drops made durable and catalogued in batches, after their closes were answered.

A client that drops many small files sends them one after the other, each close waiting
for its answer; an fsync and a catalog commit before each answer would make the disk's
latency the rate. SFTP's close promises what POSIX's does, that the bytes are with the
operating system; a client that wants them on the disk asks with ``fsync@openssh.com``
(OpenSSH's ``put -f``), which is answered after an fsync. So a drop's close is answered
once the file has its name (marked pending); the :class:`Settler` then fsyncs the files
that closed meanwhile and their folders and catalogues them in one transaction, and
offers each to its project's matching rule. A file becomes visible to scandepot (its
catalog row) only after its fsync.

Nothing answered is lost when the process dies: a pending file is settled by the next
start (:func:`recover`), and one cut short by a crash of the machine (its bytes never
reached the disk) is removed with an error in the log, as any file the operating system
had not written is lost then.

:func:`finish` settles one upload whose close is not yet answered, refusing it (and
removing its file) when the account went or the quota has no room.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project
from scandepot.catalog.drops import DropItem, DropState, MatchRule
from scandepot.context import Context
from scandepot.errors import Invalid, ScandepotError
from scandepot.ingest import drop_matching, drop_pending, drops
from scandepot.ingest.drop_quota import QuotaExceeded, last_check, quota_and_rule
from scandepot.ingest.drops import Closed, Upload
from scandepot.ingest.sftp_signin import DropPrincipal
from scandepot.storage.store import Disk, file_digest, fsync_dir

log = logging.getLogger("scandepot.drops")

BATCH = 256  # closed files settled together at most
GATHER_S = 0.1  # after a close, how long the settler waits for more to settle with it
TRIES = 6  # a batch that fails (the catalog away) is tried again, then left to recover()
# A pending file whose process still looks alive is taken over after this long.
TAKE_OVER_AFTER_S = 3600.0
# Where the files of a batch are fsynced, at once.
_SYNCS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="drop-fsync")


def _sync(batch: list[Closed]) -> set[Path]:
    """fsync the files of ``batch`` (at once, on the pool), then their folders; returns
    the files that are no longer there (removed by hand, their folder gone)."""
    disk = batch[0].ctx.store.disk
    syncing = {c.dest: _SYNCS.submit(_fsync_file, disk, c.dest) for c in batch if not c.synced}
    missing = {path for path, done in syncing.items() if not done.result()}
    missing |= {c.dest for c in batch if c.synced and not c.dest.exists()}
    for parent in dict.fromkeys(c.dest.parent for c in batch if c.dest not in missing):
        fsync_dir(parent)
    return missing


def _fsync_file(disk: Disk, path: Path) -> bool:
    """fsync ``path`` through the store's disk, as the store fsyncs its files; False when
    it is not there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        disk.fsync(fd)
    finally:
        os.close(fd)
    return True


def settle(batch: list[Closed], *, strict: bool) -> list[int | None]:
    """Make closed uploads durable and catalogue them in one transaction (one context
    for the whole batch); returns their drop items' ids, in order (None for a file
    that went).

    ``strict`` (a close not yet answered): the account must still be there and enabled
    and the quota's last check must pass, or the file goes and the error is raised.
    Otherwise (closes answered already) nothing the client was told is kept is undone:
    a file the quota's last check finds no room for (uploads in several processes at
    once) is kept with a warning; only the files of a project deleted meanwhile go,
    as its other drops did."""
    if not batch:
        return []
    ctx = batch[0].ctx
    assert all(c.ctx is ctx for c in batch), "one context a batch"
    try:
        missing = _sync(batch)
        if strict and missing:
            raise Invalid("The file went before it was kept.", field="path")
        kept = [c for c in batch if c.dest not in missing]
        catalogued = dict(zip(map(id, kept), _catalogue(ctx, kept, strict=strict), strict=True))
    except BaseException:
        if strict:  # refused: the client is told, and nothing stays
            for closed in batch:
                ctx.store.remove_file(closed.dest)
                if closed.upload is not None:
                    closed.upload.release()
        raise  # else the caller tries again: the files and their quota stay as they are
    ids: list[int | None] = []
    for closed in batch:
        drop_id = catalogued.get(id(closed))
        if closed.dest in missing:
            log.warning("drop %s of %s gone before it was kept", closed.path, closed.who.project)
        elif drop_id is None:
            log.warning("drop %s of %s removed: project gone", closed.path, closed.who.project)
            ctx.store.remove_file(closed.dest)
        else:
            drop_pending.unmark(closed.dest)
        if closed.upload is not None:
            closed.upload.release()
        ids.append(drop_id)
    return ids


def _catalogue(ctx: Context, batch: list[Closed], *, strict: bool) -> list[int | None]:
    """The rows of ``batch`` in one transaction, one statement; ids in order (None for a
    file of a project gone). The quota's last check is one per project, for the bytes of
    all its files here."""
    by_project: dict[int, list[Closed]] = {}
    for closed in batch:
        by_project.setdefault(closed.who.project_id, []).append(closed)
    done: dict[int, int] = {}
    with ctx.db.write() as db:
        kept: list[Closed] = []
        for project_id, closed_ in by_project.items():
            who = closed_[0].who
            live: Path | None
            if strict:
                live = drops.account_folder(ctx, db, who)
            else:
                live = _project_folder(ctx, db, project_id)
            # A folder not the project's: it was made again since (SQLite gives ids again).
            if strict and any(c.folder != live for c in closed_):
                raise drops.gone()
            closed_ = [c for c in closed_ if c.folder == live]
            if not strict:
                # Catalogued already: a try whose commit went through though its answer
                # was lost, or recovery after a process that died past its commit.
                found = _unmatched_ids(db, project_id, [c.path for c in closed_])
                done |= {id(c): found[c.path] for c in closed_ if c.path in found}
                closed_ = [c for c in closed_ if c.path not in found]
            if not closed_:
                continue
            try:
                last_check(db, project_id, who.project, sum(c.digest.size for c in closed_))
            except QuotaExceeded:
                if strict:
                    raise
                log.warning(
                    "%d drops of %s kept over the quota: their closes were answered already",
                    len(closed_),
                    who.project,
                )
            kept.extend(closed_)
        if not kept:
            return [done.get(id(c)) for c in batch]
        rows = [
            {
                "project_id": c.who.project_id,
                "account_id": c.who.account_id,
                "path": c.path,
                "size": c.digest.size,
                "md5": c.digest.md5,
                "sha256": c.digest.sha256,
            }
            for c in kept
        ]
        insert_rows = insert(DropItem).returning(DropItem.id, sort_by_parameter_order=True)
        done |= dict(zip(map(id, kept), db.scalars(insert_rows, rows).all(), strict=True))
    return [done.get(id(c)) for c in batch]


def _unmatched_ids(db: DBSession, project_id: int, paths: list[str]) -> dict[str, int]:
    rows = db.execute(
        select(DropItem.path, DropItem.id).where(
            DropItem.project_id == project_id,
            DropItem.state == DropState.UNMATCHED.value,
            DropItem.path.in_(paths),
        )
    )
    return {path: drop_id for path, drop_id in rows}


def _project_folder(ctx: Context, db: DBSession, project_id: int) -> Path | None:
    row = db.execute(select(Project.id, Project.created_at).where(Project.id == project_id)).first()
    return None if row is None else drops.root(ctx) / drops.folder_name(row[0], row[1])


def finish(upload: Upload) -> int:
    """Close, fsync and catalogue one upload at once (its close not yet answered);
    returns the drop item's id. Refused after the name is taken (the quota's last check,
    the account gone), the file goes."""
    drop_id = settle([upload.close()], strict=True)[0]
    assert drop_id is not None, "a strict settle refuses rather than removes"
    return drop_id


def settle_and_match(batch: list[Closed]) -> None:
    """Settle ``batch`` (answered closes: nothing is refused), then try each file's
    project rule on it; a file that does not match waits to be matched by hand."""
    ids = settle(batch, strict=False)
    for closed, drop_id in zip(batch, ids, strict=True):
        if drop_id is None or closed.rule == MatchRule.NONE.value:
            continue
        try:
            drop_matching.on_arrival(closed.ctx, drop_id)
        except (ScandepotError, OSError) as exc:
            log.warning("drop %s of %s not matched: %s", drop_id, closed.who.project, exc)


class Settler:
    """A thread that settles what :meth:`submit` hands it, in batches, until :meth:`stop`."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Closed | None] = queue.Queue()
        self._unsettled = 0  # submitted, not yet settled or given up
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drop-settler", daemon=True)

    def start(self) -> Settler:
        self._thread.start()
        return self

    def submit(self, closed: Closed) -> None:
        with self._idle:
            self._unsettled += 1
        self._queue.put(closed)

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait until everything submitted so far is settled (or given up); False when
        ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unsettled == 0, timeout=timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Settle what was submitted, then end the thread. A batch that cannot be
        settled now keeps its marks for the next start."""
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            self._stopping.set()  # retries end; their files wait for recover()
            self._thread.join(timeout=10)

    def _run(self) -> None:
        ending = False
        while not ending:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            time.sleep(GATHER_S)  # the closes of the next moment join this batch
            while len(batch) < BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    ending = True
                    break
                batch.append(more)
            by_context: dict[int, list[Closed]] = {}
            for closed in batch:
                by_context.setdefault(id(closed.ctx), []).append(closed)
            for group in by_context.values():
                self._settle(group)
            with self._idle:
                self._unsettled -= len(batch)
                self._idle.notify_all()

    def _settle(self, batch: list[Closed]) -> None:
        delay = 0.5
        for attempt in range(1, TRIES + 1):
            try:
                settle_and_match(batch)
                return
            except Exception:
                if attempt == TRIES or self._stopping.is_set():
                    log.exception(
                        "%d dropped files not catalogued; they are settled at the next start",
                        len(batch),
                    )
                    return
                log.warning("dropped files not catalogued yet, trying again", exc_info=True)
                if self._stopping.wait(delay):
                    return
                delay = min(delay * 2, 10.0)


def recover(ctx: Context) -> int:
    """Settle the pending files of the live projects' drop folders whose process ended
    (or has not settled them for :data:`TAKE_OVER_AFTER_S`) before their catalog row:
    catalogued and matched if they hold what their close saw, else removed with an error
    (the machine crashed before the bytes reached the disk). Returns how many were
    catalogued."""
    base = drops.root(ctx)
    if not base.is_dir():
        return 0
    with ctx.db.read() as db:
        live = {
            drops.folder_name(pid, made): (pid, label)
            for pid, made, label in db.execute(
                select(Project.id, Project.created_at, Project.label)
            )
        }
    recovered = 0
    for name, (project_id, label) in live.items():
        folder = base / name
        if folder.is_dir():
            batch = _pending_in(ctx, folder, project_id, label)
            if batch:
                settle_and_match(batch)
                recovered += len(batch)
    return recovered


def _pending_in(ctx: Context, folder: Path, project_id: int, label: str) -> list[Closed]:
    cutoff = time.time() - TAKE_OVER_AFTER_S
    batch: list[Closed] = []
    with ctx.db.read() as db:
        rule = quota_and_rule(db, project_id)[1]
        known = set(db.scalars(select(DropItem.path).where(DropItem.project_id == project_id)))
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        mark = drop_pending.read(path)
        if mark is None or (mark.owner_alive() and path.stat().st_mtime > cutoff):
            continue
        relative = path.relative_to(folder).as_posix()
        if relative in known:  # catalogued; the process died before it took the mark off
            drop_pending.unmark(path)
            continue
        digest = file_digest(path)
        if (digest.size, digest.sha256) != (mark.size, mark.sha256):
            log.error(
                "drop %s of %s lost: it holds %d bytes, not the %d its close was answered"
                " for (a crash before they reached the disk)",
                relative,
                label,
                digest.size,
                mark.size,
            )
            ctx.store.remove_file(path)
            continue
        who = DropPrincipal(mark.account_id, project_id, label, "", None)
        batch.append(Closed(ctx, who, folder, relative, digest, rule, None, False))
    return batch
