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
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

from sqlalchemy import select

from scandepot.catalog.archive import Project
from scandepot.catalog.drops import DropItem, MatchRule
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.ingest import drop_matching, drop_pending, drops
from scandepot.ingest.drop_quota import room
from scandepot.ingest.drops import Closed
from scandepot.ingest.sftp_signin import DropPrincipal
from scandepot.storage.store import file_digest

log = logging.getLogger("scandepot.drops")

BATCH = 256  # closed files settled together at most
GATHER_S = 0.1
TRIES = 6  # a batch that fails (the catalog away) is tried again, then left to recover()
# A pending file whose process still looks alive is taken over after this long.
TAKE_OVER_AFTER_S = 3600.0


def settle_and_match(batch: list[Closed]) -> None:
    """Settle ``batch`` (answered closes: nothing is refused), then try each file's
    project rule on it; a file that does not match waits to be matched by hand."""
    ids = drops.settle(batch, strict=False)
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
        rule = room(db, project_id)[2]
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
