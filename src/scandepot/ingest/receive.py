"""The one way into scandepot for DICOM: C-STORE, uploads and STOW all end here.

Each instance is written durably to the prearchive spool and recorded in the catalog
before the caller is told it was stored. Instances are grouped into staged sessions by
(project, StudyInstanceUID).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.prearchive import UNASSIGNED, StagedSession
from scandepot.context import Context
from scandepot.db import prepared
from scandepot.db.base import utcnow
from scandepot.dicom.headers import Header, read_header
from scandepot.dicom.routing import Route, route
from scandepot.errors import Conflict
from scandepot.ingest import statements
from scandepot.ingest.statements import Statements
from scandepot.prearchive import digests, problems
from scandepot.prearchive.staged import open_for_study
from scandepot.storage import spool
from scandepot.storage.store import StagedFile, fsync_dir

log = logging.getLogger("scandepot.ingest")


@dataclass(frozen=True, slots=True)
class Source:
    """Where instances come from, and what the sender asked for."""

    kind: str  # "dicom", "upload", "stow"
    called_ae: str = ""
    calling_ae: str = ""
    address: str | None = None
    # Given by an upload: they win over what routing derives from the headers.
    project: str | None = None
    subject: str | None = None
    session: str | None = None
    # The project configured for the AE title the sender called (routing rule 3).
    default_project: str | None = None
    # Keep the staged session for an explicit archive request (uploads to the prearchive,
    # and uploads that archive once every file is in).
    hold: bool = False
    # An instance archived in the project with the same bytes counts as held already;
    # not so for an upload that replaces the archived session.
    skip_archived: bool = True
    # Who sent it, for an upload: the signed-in user's login.
    by: str = ""

    @property
    def label(self) -> str:
        """Recorded as the staged session's source: who made it (an upload may change
        only the staged sessions its own sender made)."""
        who = self.calling_ae or self.by
        return (f"{self.kind}:{who}" if who else self.kind)[:128]


@dataclass(frozen=True, slots=True)
class Received:
    staged_id: int | None
    duplicate: bool = False  # the same bytes were already held: nothing added
    conflict: bool = False  # the same UID with other bytes: kept aside and flagged


def route_for(header: Header, source: Source) -> Route:
    """Where ``header``'s instance goes for ``source``: what it gives wins over the rules."""
    routed = route(header, default_project=source.default_project)
    if source.project is None:
        return routed
    return Route(
        project=source.project,
        subject=source.subject or routed.subject,
        session=source.session or routed.session,
        rule="given",
    )


@dataclass(slots=True)
class Incoming:
    """One instance to file: its bytes written to ``staged`` (not yet fsynced), its
    header read. Filing sets ``result``, or ``error`` when this instance alone failed."""

    staged: StagedFile
    source: Source
    header: Header
    placements: Placements | None = None
    result: Received | None = None
    error: Exception | None = None
    dest: Path | None = None  # the spool name linked, until the transaction ends
    settled: bool = False  # for group commit: the transaction that held it has ended


@dataclass(slots=True)
class _Placement:
    project_id: int | None
    project_key: str
    staged_id: int
    created: Any  # the staged session's created_at as stored: tells a re-created row apart
    # Series of this study that the project held no archived instance of when first seen.
    clean_series: set[str]


class Placements:
    """Where one sender's instances go: the project and the staged session of each
    study, looked up on the study's first instance rather than on every one, and for
    each series whether the project holds archived instances of it (when it does not,
    the per-instance look-up for an archived copy is skipped).

    An entry is used only while its staged session row is unchanged: every instance
    filed through it updates that row with a condition on its ID, key and creation time
    in the same transaction, and when no row matches (the session was archived, deleted,
    moved to another project, or re-created meanwhile, by this process or another) the
    entry is dropped and the instance is placed afresh.
    """

    def __init__(self) -> None:
        self._by_study: dict[tuple[str | None, str], _Placement] = {}

    def get(self, project: str | None, study: str) -> _Placement | None:
        return self._by_study.get((project, study))

    def put(self, project: str | None, study: str, placement: _Placement) -> None:
        if len(self._by_study) > 256:  # a long association over many studies
            self._by_study.clear()
        self._by_study[(project, study)] = placement

    def drop(self, project: str | None, study: str) -> None:
        self._by_study.pop((project, study), None)


def _archived(
    cursor: Any,
    sql: Statements,
    project_id: int,
    header: Header,
    staged: StagedFile,
    clean: set[str],
) -> bool:
    """Whether the project holds this very instance (same UID, same bytes) archived. A
    series found without archived instances goes into ``clean``: not looked up again.
    The incoming file is hashed only when an archived copy is found."""
    series = header.SeriesInstanceUID
    if series in clean:
        return False
    params = {"project_id": project_id, "series": series}
    if sql.archived_series.run(cursor, params).fetchone() is None:
        clean.add(series)
        return False
    params = {"project_id": project_id, "sop": header.SOPInstanceUID}
    found = sql.archived_copy.run(cursor, params).fetchone()
    return found is not None and found[0] == staged.seal().sha256


def _held_sha256(ctx: Context, cursor: Any, sql: Statements, held: Any) -> str:
    """The SHA-256 of a staged instance, computed now (and recorded) if it has none yet."""
    instance_id, sha256, path, size = held
    if sha256 is not None:
        return str(sha256)
    digest = digests.of_staged(ctx, path, size)
    params = {
        "instance_id": instance_id,
        "new_md5": digest.md5,
        "new_sha256": digest.sha256,
        "new_crc32": digest.crc32,
    }
    sql.fill.run(cursor, params)
    return digest.sha256


def _place(
    conn: Connection,
    cursor: Any,
    sql: Statements,
    header: Header,
    routed: Route,
    source: Source,
    staged: StagedFile,
) -> _Placement | None:
    """Look up the project and (creating it if needed) the staged session of an
    instance's study; None when the project holds this very instance archived."""
    project_id = None
    if routed.project is not None:
        params = {"label": routed.project, "exact": routed.project}
        found = sql.project.run(cursor, params).fetchone()
        if found is not None:
            project_id, project_key = found[0], str(found[1])
    if project_id is None:
        project_key = UNASSIGNED
    assert project_key is not None
    clean: set[str] = set()
    if (
        project_id is not None
        and source.skip_archived
        and _archived(cursor, sql, project_id, header, staged, clean)
    ):
        return None
    with DBSession(bind=conn, join_transaction_mode="create_savepoint") as db:
        staged_id = open_for_study(
            db, project_key, header, routed, source=source.label, hold=source.hold
        )
        if source.hold:  # held from its first instance of this sender on
            db.execute(
                update(StagedSession)
                .where(
                    StagedSession.id == staged_id,
                    StagedSession.source == source.label,  # never another's session
                )
                .values(hold=True)
            )
        db.commit()
    (created,) = sql.created.run(cursor, {"staged_id": staged_id}).fetchone()
    return _Placement(project_id, project_key, staged_id, created, clean)


@dataclass(frozen=True, slots=True)
class _Filing:
    """Where one instance goes, and what its staged session holds of it already."""

    place: _Placement
    held: Any  # the staged instance of the same SOP Instance UID (a row), or None
    name: str  # its spool name, relative to the data folder
    known: bool  # this very copy (same bytes) is held already


def _file_one(
    ctx: Context,
    conn: Connection,
    cursor: Any,
    sql: Statements,
    item: Incoming,
    now: dt.datetime,
    touched: dict[int, bool],
) -> None:
    size = item.staged.end()  # hashed here only if a copy must be compared: see digests
    filing = _find_place(ctx, conn, cursor, sql, item, now, touched)
    if filing is None:  # the project holds this very instance archived
        item.result = Received(None, duplicate=True)
        return
    if filing.known:
        item.result = Received(filing.place.staged_id, duplicate=True)
        return
    dest = ctx.store.data_dir / filing.name
    _link(cursor, sql, item, filing, dest)
    item.dest = dest
    sql.insert.run(cursor, _instance_row(item, filing, size, now))
    if filing.held is not None:
        _note_arrived_again(conn, filing.place.staged_id, item.header.SOPInstanceUID)
    item.result = Received(filing.place.staged_id, conflict=filing.held is not None)


def _find_place(
    ctx: Context,
    conn: Connection,
    cursor: Any,
    sql: Statements,
    item: Incoming,
    now: dt.datetime,
    touched: dict[int, bool],
) -> _Filing | None:
    """The staged session ``item`` goes into, its row touched in this transaction; None
    when the project holds this very instance archived. A remembered placement whose row
    changed meanwhile (archived, deleted, moved, re-created) is dropped, and the instance
    placed afresh."""
    header, source, staged = item.header, item.source, item.staged
    routed = route_for(header, source)
    placements = item.placements or Placements()
    study = header.StudyInstanceUID
    place = placements.get(routed.project, study)
    for _attempt in range(2):
        if place is None:
            place = _place(conn, cursor, sql, header, routed, source, staged)
            if place is None:
                return None
            placements.put(routed.project, study, place)
        elif (
            place.project_id is not None
            and source.skip_archived
            and _archived(cursor, sql, place.project_id, header, staged, place.clean_series)
        ):
            # A copy found is found in the catalog as it is now. A look-up skipped for a
            # clean series is made again if the entry proves stale (the touch below).
            return None
        filing = _compare_held(ctx, cursor, sql, item, place)
        if _touch(cursor, sql, filing, study, now, touched):
            return filing
        placements.drop(routed.project, study)
        place = None
    raise RuntimeError(f"the staged session of study {study} changed while filing")


def _compare_held(
    ctx: Context, cursor: Any, sql: Statements, item: Incoming, place: _Placement
) -> _Filing:
    """An instance already held under the same UID is compared by its bytes: the same
    bytes are known; other bytes are kept beside it, under a name of their own."""
    sop = item.header.SOPInstanceUID
    held = sql.held.run(cursor, {"staged_id": place.staged_id, "sop": sop}).fetchone()
    if held is None:
        name = spool.name(place.staged_id, item.header.SeriesInstanceUID, sop, "")
        return _Filing(place, None, name, known=False)
    incoming = item.staged.seal().sha256
    name = spool.name(place.staged_id, item.header.SeriesInstanceUID, sop, f".{incoming[:12]}")
    same = _held_sha256(ctx, cursor, sql, held) == incoming
    # Other bytes already kept under their own name: this very copy arrived before.
    known = same or (ctx.store.data_dir / name).exists()
    return _Filing(place, held, name, known)


def _touch(
    cursor: Any,
    sql: Statements,
    filing: _Filing,
    study: str,
    now: dt.datetime,
    touched: dict[int, bool],
) -> bool:
    """Stamp the staged session as receiving, if its row is still the one placed.

    ``touched`` holds the staged sessions this transaction stamped already (True: as
    receiving): their rows cannot change before it ends (the row is locked on PostgreSQL,
    the writer is alone on SQLite), so a batch stamps each once, not once per instance."""
    place = filing.place
    done = touched.get(place.staged_id)
    if done or (done is not None and filing.known):
        return True
    touch = sql.touch if filing.known else sql.touch_receiving
    owner = {
        "staged_id": place.staged_id,
        "key": place.project_key,
        "study": study,
        "created": place.created,
        "now": now,
        "now2": now,
    }
    if touch.run(cursor, owner).rowcount != 1:
        return False
    touched[place.staged_id] = not filing.known
    return True


def _link(cursor: Any, sql: Statements, item: Incoming, filing: _Filing, dest: Path) -> None:
    try:
        item.staged.link(dest)
    except Conflict:
        # A name left by a writer killed before its commit may be replaced; a name the
        # catalog knows never is (PS3.5 UIDs cannot reach outside the spool, but a file
        # that is in the catalog stays as it is whatever arrives).
        known = sql.spooled.run(cursor, {"spool_path": filing.name}).fetchone() is not None
        if filing.held is not None or known:
            sop = item.header.SOPInstanceUID
            raise Conflict(
                f"Instance {sop} would replace a staged file the catalog holds.", field="dicom"
            ) from None
        item.staged.link(dest, replace_orphan=True)


def _instance_row(item: Incoming, filing: _Filing, size: int, now: dt.datetime) -> dict[str, Any]:
    header, digest = item.header, item.staged.digest
    return {
        "prearchive_id": filing.place.staged_id,
        "sop_instance_uid": header.SOPInstanceUID,
        "sop_class_uid": header.SOPClassUID,
        "transfer_syntax_uid": header.TransferSyntaxUID,
        "study_instance_uid": header.StudyInstanceUID,
        "series_instance_uid": header.SeriesInstanceUID,
        "series_number": header.SeriesNumber,
        "series_description": header.SeriesDescription,
        "modality": header.Modality,
        "body_part_examined": header.BodyPartExamined,
        "instance_number": header.InstanceNumber,
        "number_of_frames": header.NumberOfFrames,
        "rows": header.Rows,
        "columns": header.Columns,
        "bits_allocated": header.BitsAllocated,
        "series_date": header.SeriesDate,
        "series_time": header.SeriesTime,
        "performed_procedure_step_start_date": header.PerformedProcedureStepStartDate,
        "performed_procedure_step_start_time": header.PerformedProcedureStepStartTime,
        "spool_path": filing.name,
        "size": size,
        "md5": digest.md5 if digest is not None else None,
        "sha256": digest.sha256 if digest is not None else None,
        "crc32": digest.crc32 if digest is not None else None,
        "duplicate_of": filing.held[0] if filing.held is not None else None,
        "received_at": now,
    }


def _note_arrived_again(conn: Connection, staged_id: int, sop: str) -> None:
    """The staged session's problems say that an instance arrived again with other bytes."""
    stored = conn.scalar(select(StagedSession.problem_records).where(StagedSession.id == staged_id))
    if stored is not None:
        noted = problems.add(stored, problems.arrived_again(sop))
        if noted != stored:
            conn.execute(
                update(StagedSession)
                .where(StagedSession.id == staged_id)
                .values(problem_records=noted)
            )


def file_batch(ctx: Context, batch: list[Incoming], *, kept: bool = False) -> None:
    """File instances in one catalog transaction (on the writer's kept connection with
    ``kept``, for a caller that files one batch at a time: see ``write_connection``).

    Every instance's spool name is linked first, then the files and their folders are
    fsynced, then the transaction commits (one fsync of the catalog for the batch).
    An instance that fails alone gets ``error`` and leaves nothing behind; when the
    batch as a whole fails (the commit, an fsync) the exception propagates and nothing
    of the batch stays linked or catalogued. The callers discard the staged files (their
    temporary names) afterwards.

    A batch is first filed as a whole, without savepoints (on PostgreSQL each is two
    round trips more per instance); only when one of its instances fails is it filed
    again, each instance in a savepoint of its own.
    """
    if len(batch) > 1:
        try:
            _file_batch(ctx, batch, savepoints=False, kept=kept)
            return
        except Exception:
            for item in batch:
                item.result, item.error = None, None
    _file_batch(ctx, batch, savepoints=len(batch) > 1, kept=kept)


def _file_batch(ctx: Context, batch: list[Incoming], *, savepoints: bool, kept: bool) -> None:
    now = utcnow()
    touched: dict[int, bool] = {}
    try:
        with ctx.db.write_connection(kept=kept) as conn:
            sql = statements.on(conn)
            cursor = prepared.cursor(conn)
            # One order for every batch: PostgreSQL row locks are then taken in one order.
            for item in sorted(batch, key=lambda i: i.header.StudyInstanceUID):
                if not savepoints:
                    _file_one(ctx, conn, cursor, sql, item, now, touched)
                    continue
                savepoint = conn.begin_nested()
                rolled_back = dict(touched)
                try:
                    _file_one(ctx, conn, cursor, sql, item, now, touched)
                except Exception as exc:
                    savepoint.rollback()
                    touched.clear()
                    touched.update(rolled_back)  # a stamp undone with the savepoint
                    _unlink(item)
                    item.result, item.error = None, exc
                else:
                    savepoint.commit()
            folders = set()
            for item in batch:
                if item.dest is not None:
                    item.staged.sync()
                    folders.add(item.dest.parent)
            for folder in folders:
                fsync_dir(folder)
    except BaseException:
        for item in batch:
            _unlink(item)
        raise
    for item in batch:
        item.dest = None  # kept: the caller's discard removes only the temporary name


def _unlink(item: Incoming) -> None:
    if item.dest is not None:
        item.dest.unlink(missing_ok=True)
        item.dest = None


def receive(
    ctx: Context, staged_file: StagedFile, source: Source, *, header: Header | None = None
) -> Received:
    """File one instance. The caller discards ``staged_file`` afterwards (that removes
    its temporary name; the spool name stays). Raises
    :class:`~scandepot.dicom.headers.NotDicom` for what cannot be filed."""
    staged_file.end()
    header = header or read_header(staged_file.tmp_path)
    item = Incoming(staged_file, source, header)
    file_batch(ctx, [item])
    assert item.result is not None
    return item.result
