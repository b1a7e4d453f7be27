"""The prearchive builder: builds sessions that have gone quiet, and archives them when
their project says so. Runs in ``scandepot serve`` and ``scandepot dicom``; several can
run against one catalog (a session is claimed before it is built)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import SYSTEM
from scandepot.catalog import journal as event_journal
from scandepot.catalog.archive import Counter, Project
from scandepot.catalog.prearchive import UNASSIGNED, Instance, StagedSession, Status
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import ScandepotError
from scandepot.events import SessionBuilt
from scandepot.prearchive import (
    archiver,
    builder,
    deid_ahead,
    digests,
    journal,
    problems,
    settle,
    working,
)
from scandepot.prearchive.destination import AUTOMATIC, archives_after_build, overwrites
from scandepot.storage import spool

log = logging.getLogger("scandepot.prearchive")

# What the quiet and settle times are measured with: the current UTC time. A test hands
# run_once and hash_settled one it moves on itself.
Clock = Callable[[], dt.datetime]


def _claim(ctx: Context, staged_id: int, cutoff: dt.datetime) -> bool:
    with ctx.db.write() as db:
        claimed: CursorResult[Any] = db.execute(  # type: ignore[assignment]
            update(StagedSession)
            .where(
                StagedSession.id == staged_id,
                StagedSession.status == Status.RECEIVING,
                StagedSession.last_received_at <= cutoff,
            )
            .values(status=Status.BUILDING)
        )
        return bool(claimed.rowcount)


def build_one(ctx: Context, staged_id: int) -> str:
    """Build a claimed session, then archive it if its project archives automatically
    (unless an upload holds it for an explicit archive request)."""
    digests.complete(ctx, staged_id)
    told = None
    with ctx.db.write() as db:
        staged = db.get(StagedSession, staged_id)
        if staged is None:
            return "gone"
        plan = builder.build(db, staged)
        event_journal.record(db, _built(db, staged))
        destination = None
        if staged.project_key != UNASSIGNED:
            destination = db.scalar(
                select(Project.upload_destination).where(Project.label == staged.project_key)
            )
        status, held = staged.status, staged.hold
        if status == Status.CONFLICT or staged.project_key == UNASSIGNED:
            told = archiver.attention(db, staged, plan.reasons())
    if told is not None:
        ctx.events.publish(told)  # after the commit of its journal row
        return status
    if not held and archives_after_build(destination):
        try:
            archiver.archive(ctx, SYSTEM, staged_id, overwrite=overwrites(destination))
        except ScandepotError as exc:
            log.warning("staged session %d not archived: %s", staged_id, exc.message)
            _not_archived(ctx, staged_id, exc.message)
            return Status.CONFLICT
        except Exception as exc:
            log.exception("archiving staged session %d failed", staged_id)
            _fail(ctx, staged_id, f"Archiving failed: {type(exc).__name__}: {exc}")
            return Status.ERROR
        return "archived"
    return status


def _built(db: DBSession, staged: StagedSession) -> SessionBuilt:
    instances = db.scalar(
        select(func.count()).select_from(Instance).where(Instance.staged_id == staged.id)
    )
    return SessionBuilt(
        staged_id=staged.id,
        project=staged.project_key or None,
        subject=staged.subject,
        session=staged.session,
        StudyInstanceUID=staged.StudyInstanceUID,
        status=staged.status,
        scans=sum(1 for s in staged.scans if not s.get("excluded")),
        instances=instances or 0,
        problems=tuple(staged.problems),
    )


def _not_archived(ctx: Context, staged_id: int, reason: str) -> None:
    """An automatic archive refused: told unless the archive told of it already (its
    conflicts, or an archive script's failure, which leaves the session in ERROR)."""
    with ctx.db.write() as db:
        staged = db.get(StagedSession, staged_id)
        if staged is None or staged.status in (Status.CONFLICT, Status.ERROR):
            return
        told = archiver.attention(db, staged, reason)
    ctx.events.publish(told)  # after the commit of its journal row


def _fail(ctx: Context, staged_id: int, reason: str) -> None:
    told = None
    with ctx.db.write() as db:
        staged = db.get(StagedSession, staged_id)
        if staged is not None:
            staged.status = Status.ERROR
            failed = problems.Problem(problems.Kind.FAILED, reason)
            staged.problem_records = [*staged.problem_records, failed.stored()]
            told = archiver.attention(db, staged, reason)
    if told is not None:
        ctx.events.publish(told)  # after the commit of its journal row


# A session with no new instance for this long (or the quiet time, if shorter) has the
# checksums of what it holds computed while it waits for its build.
SETTLE_S = 1.0


def hash_settled(ctx: Context, *, clock: Clock = utcnow) -> int:
    """Checksums for the instances of sessions that stopped receiving a moment ago, and
    the copies their project's archive script makes of them (:mod:`.deid_ahead`), so that
    the build and the archive, after the quiet time, do not wait for them; returns how
    many checksums were computed."""
    settle_s = min(SETTLE_S, ctx.settings.prearchive_quiet_s)
    settled = clock() - dt.timedelta(seconds=settle_s)
    with ctx.db.read() as db:
        waiting = db.scalars(
            select(StagedSession.id).where(
                StagedSession.status == Status.RECEIVING,
                StagedSession.last_received_at <= settled,
            )
        ).all()
    hashed = 0
    for staged_id in waiting:
        try:
            hashed += digests.complete(ctx, staged_id)
        except Exception as exc:  # the build meets it again, and says so
            log.warning("checksums of staged session %d: %s", staged_id, exc)
            continue
        try:  # the archive script's copies, which archiving then links
            deid_ahead.make(ctx, staged_id)
        except Exception as exc:  # archiving makes them itself, and says what failed
            log.warning("archive script on staged session %d: %s", staged_id, exc)
    return hashed


def run_once(ctx: Context, *, clock: Clock = utcnow) -> int:
    """Build every session quiet for long enough; returns how many were handled."""
    hash_settled(ctx, clock=clock)
    cutoff = clock() - dt.timedelta(seconds=ctx.settings.prearchive_quiet_s)
    with ctx.db.read() as db:
        due = db.scalars(
            select(StagedSession.id)
            .where(
                StagedSession.status == Status.RECEIVING,
                StagedSession.last_received_at <= cutoff,
            )
            .order_by(StagedSession.last_received_at)
        ).all()
    handled = 0
    for staged_id in due:
        # Held from before the claim to the end of the archive: another process's
        # recovery leaves it alone meanwhile (working.py).
        with working.on(ctx, staged_id) as mine:
            if not mine or not _claim(ctx, staged_id, cutoff):
                continue
            try:
                outcome = build_one(ctx, staged_id)
                log.info("staged session %d: %s", staged_id, outcome)
            except Exception as exc:
                log.exception("building staged session %d failed", staged_id)
                _fail(ctx, staged_id, f"Building failed: {type(exc).__name__}: {exc}")
            finally:
                settle.let_go()
        handled += 1
    return handled


def recover(ctx: Context) -> None:
    """After a crash: archives that did not commit are undone (:mod:`journal`), whatever
    the status of their staged session; sessions caught mid-build, and sessions ready in
    a project that archives on its own (an archive that was under way), are built and
    archived again; spool folders whose session was archived (or deleted) are removed.
    What another live process is working on is left to it: an archive under way holds
    its staged session's row, a build its lock (:mod:`working`), and a spool folder
    written a moment ago may belong to a session whose first instance is not committed
    yet."""
    with ctx.db.read() as db:
        existing = set(db.scalars(select(StagedSession.id)))
    for staged_id in journal.pending(ctx):
        if staged_id in existing:  # else archived: the spool folder and its journal go below
            _undo(ctx, staged_id, wait=True)
    _take_back(ctx, _interrupted())
    _remove_spools_left(ctx)


def take_back_abandoned(ctx: Context) -> list[int]:
    """While builders run (PostgreSQL): what a builder that is gone left (a ``scandepot
    dicom`` killed, or its host down once PostgreSQL has noticed its connection dropped)
    is put back to be built and archived again by any live builder, without waiting for
    a builder's start, as :func:`recover` does: a session mid-build (``BUILDING``), or
    built and not archived in a project that archives on its own (``READY``), the files
    of an archive that did not commit first put back.

    A live builder holds its session's lock from the claim to the end of the archive,
    and only a builder's claim makes a session ``BUILDING`` (an archive's ``ARCHIVING``
    never outlives its transaction); so such a session whose lock can be taken has no
    builder. An archive asked for by hand holds the session's row instead while it runs:
    a row locked now is left to it, not waited for. Returns the sessions put back."""
    if ctx.db.is_sqlite:  # no lock to tell a live builder by: a start recovers
        return []
    for staged_id in journal.pending(ctx):
        with working.on(ctx, staged_id) as abandoned:
            if abandoned:
                _undo(ctx, staged_id, wait=False)
    taken = _take_back(ctx, _interrupted())
    for staged_id in taken:
        log.warning("staged session %d: its builder is gone; it is built again", staged_id)
    return taken


def _interrupted() -> ColumnElement[bool]:
    """Staged sessions a builder leaves only while it works on them: mid-build, or built
    and not yet archived in a project that archives on its own (and not held for an
    explicit archive request)."""
    automatic = select(Project.label).where(Project.upload_destination.in_(AUTOMATIC))
    return or_(
        StagedSession.status.in_(settle.BUSY),
        and_(
            StagedSession.status == Status.READY,
            StagedSession.hold.is_(False),
            StagedSession.project_key.in_(automatic),
        ),
    )


def _undo(ctx: Context, staged_id: int, *, wait: bool) -> None:
    try:
        undone = journal.undo(ctx, staged_id, wait=wait)
    except Exception:  # the catalog busy for long: the next start or look tries again
        log.exception("staged session %d: an interrupted archive not undone", staged_id)
        return
    if undone:
        log.warning(
            "staged session %d: an interrupted archive undone (%d files)", staged_id, undone
        )


def _take_back(ctx: Context, condition: ColumnElement[bool]) -> list[int]:
    """Put back to ``RECEIVING`` the staged sessions that meet ``condition``, that no
    live builder holds and whose row no archive holds now."""
    with ctx.db.read() as db:
        found = db.scalars(select(StagedSession.id).where(condition)).all()
    taken = []
    for staged_id in found:
        with working.on(ctx, staged_id) as abandoned:
            if not abandoned:  # a live builder holds it
                continue
            with ctx.db.write() as db:
                free = db.scalar(
                    select(StagedSession.id)
                    .where(StagedSession.id == staged_id, condition)
                    .with_for_update(skip_locked=True)
                )
                if free is not None:
                    db.execute(
                        update(StagedSession)
                        .where(StagedSession.id == staged_id)
                        .values(status=Status.RECEIVING)
                    )
                    taken.append(staged_id)
    return taken


SPOOL_GRACE_S = 3600.0  # longer than any transaction that stages a session's first file


def _remove_spools_left(ctx: Context) -> None:
    """Spool folders of staged sessions that are gone. A folder is named by its session's
    number, drawn in the transaction that stages its first instance: a number up to the
    counter's committed value belongs to a session that was committed, so unknown now it
    is gone for good; a higher one may be another process's session not committed yet,
    and is removed only once nothing was written to it for :data:`SPOOL_GRACE_S`."""
    root = spool.root(ctx.store)
    if not root.is_dir():
        return
    with ctx.db.read() as db:
        drawn = db.scalar(select(Counter.value).where(Counter.name == "prearchive")) or 0
        known = {str(i) for i in db.scalars(select(StagedSession.id))}
    recent = time.time() - SPOOL_GRACE_S
    for folder in root.iterdir():
        if folder.name in known or not folder.is_dir():
            continue
        if folder.name.isdigit() and int(folder.name) > drawn:
            try:
                if folder.stat().st_mtime >= recent:
                    continue
            except FileNotFoundError:
                continue  # removed meanwhile
        shutil.rmtree(folder, ignore_errors=True)


# How often a running builder looks for sessions a builder that died left (PostgreSQL).
TAKE_BACK_EVERY_S = 30.0


class Builder:
    """Runs :func:`run_once` every ``interval`` seconds on a thread of its own, and
    :func:`take_back_abandoned` every ``take_back_every`` seconds."""

    def __init__(
        self, ctx: Context, *, interval: float = 1.0, take_back_every: float = TAKE_BACK_EVERY_S
    ) -> None:
        self.ctx = ctx
        self.interval = interval
        self.take_back_every = take_back_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="prearchive-builder", daemon=True)

    def start(self) -> Builder:
        recover(self.ctx)
        self._thread.start()
        return self

    def _loop(self) -> None:
        looked = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                if time.monotonic() - looked >= self.take_back_every:
                    looked = time.monotonic()
                    take_back_abandoned(self.ctx)
                run_once(self.ctx)
            except Exception:
                log.exception("prearchive builder pass failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
