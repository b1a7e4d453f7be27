"""The one way into scandepot for DICOM: C-STORE, uploads and STOW all end here.

Each instance is written durably to the prearchive spool and recorded in the catalog
before the caller is told it was stored. Instances are grouped into staging sessions by
(project, StudyInstanceUID).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project, Scan, Session
from scandepot.catalog.ids import next_value
from scandepot.catalog.prearchive import UNASSIGNED, Instance, PrearchiveSession, Status
from scandepot.context import Context
from scandepot.db.base import UTCDateTime, utcnow
from scandepot.dicom.headers import Header, read_header
from scandepot.dicom.routing import Route, route
from scandepot.errors import Conflict
from scandepot.prearchive import digests, problems
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
    prearchive_id: int | None
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


def _staging_session(
    db: DBSession, project_key: str, header: Header, routed: Route, source: Source
) -> int:
    """The staging session's ID, the session created on the study's first instance."""
    query = select(PrearchiveSession.id).where(
        PrearchiveSession.project_key == project_key,
        PrearchiveSession.StudyInstanceUID == header.StudyInstanceUID,
    )
    found = db.scalar(query)
    if found is not None:
        return found
    try:
        with db.begin_nested():
            staged = PrearchiveSession(
                # Never a number used before: it names the spool folder, which an archive
                # or delete of an earlier session with that number removes after its commit.
                id=next_value(db, "prearchive"),
                project_key=project_key,
                StudyInstanceUID=header.StudyInstanceUID,
                subject=routed.subject,
                session=routed.session,
                status=Status.RECEIVING,
                routing={"rule": routed.rule, "project": routed.project},
                problem_records=[],
                scans=[],
                source=source.label,
                hold=source.hold,
                PatientName=header.PatientName,
                PatientID=header.PatientID,
                PatientBirthDate=header.PatientBirthDate,
                PatientSex=header.PatientSex,
                StudyDate=header.StudyDate,
                StudyTime=header.StudyTime,
                StudyDescription=header.StudyDescription,
                AccessionNumber=header.AccessionNumber,
                ReferringPhysicianName=header.ReferringPhysicianName,
                InstitutionName=header.InstitutionName,
                Manufacturer=header.Manufacturer,
                ManufacturerModelName=header.ManufacturerModelName,
                StationName=header.StationName,
                MagneticFieldStrength=header.MagneticFieldStrength,
            )
            if routed.project is not None and project_key == UNASSIGNED:
                staged.problem_records = problems.store([problems.missing_project(routed.project)])
            db.add(staged)
    except IntegrityError:
        found = db.scalar(query)
        if found is None:
            raise
        return found
    return staged.id


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
    staging_id: int
    created: Any  # the staging session's created_at as stored: tells a re-created row apart
    # Series of this study that the project held no archived instance of when first seen.
    clean_series: set[str]


class Placements:
    """Where one sender's instances go: the project and the staging session of each
    study, looked up on the study's first instance rather than on every one, and for
    each series whether the project holds archived instances of it (when it does not,
    the per-instance look-up for an archived copy is skipped).

    An entry is used only while its staging session row is unchanged: every instance
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


class _Raw:
    """A Core statement compiled once for a dialect and run on the DBAPI cursor: the hot
    path's few statements, without SQLAlchemy's per-execution work (several times the
    cost of the statement itself on SQLite)."""

    def __init__(self, statement: Any, dialect: Any, *, as_stored: tuple[str, ...] = ()) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        self.order: list[str] | None = list(compiled.positiontup) if compiled.positional else None
        self.processors: dict[str, Any] = {}
        self.fixed: dict[str, Any] = {}  # values given in the statement (a LIMIT, a status)
        for name, bind in compiled.binds.items():
            processor = bind.type.bind_processor(dialect)
            if not bind.required:
                value = bind.effective_value
                self.fixed[name] = processor(value) if processor is not None else value
            elif processor is not None and name not in as_stored:
                self.processors[name] = processor

    def run(self, cursor: Any, params: dict[str, Any]) -> Any:
        params.update(self.fixed)
        for name, processor in self.processors.items():
            params[name] = processor(params[name])
        if self.order is not None:
            return cursor.execute(self.sql, [params[name] for name in self.order])
        return cursor.execute(self.sql, params)


class _Statements:
    def __init__(self, dialect: Any) -> None:
        i = cast(Table, Instance.__table__)
        s = cast(Table, PrearchiveSession.__table__)
        self.created = _Raw(
            select(s.c.created_at).where(s.c.id == bindparam("staging_id")), dialect
        )
        # Project IDs in routing match ignoring case, as labels do (catalog.labels).
        self.project = _Raw(
            select(Project.id, Project.label)
            .where(func.lower(Project.label) == func.lower(bindparam("label")))
            .order_by(Project.label != bindparam("exact"))
            .limit(1),
            dialect,
        )
        self.held = _Raw(
            select(i.c.id, i.c.sha256, i.c.spool_path, i.c.size)
            .where(
                i.c.prearchive_id == bindparam("staging_id"),
                i.c.sop_instance_uid == bindparam("sop"),
                i.c.duplicate_of.is_(None),
            )
            .limit(1),
            dialect,
        )
        owner = (
            (s.c.id == bindparam("staging_id"))
            & (s.c.project_key == bindparam("key"))
            & (s.c.study_instance_uid == bindparam("study"))
            & (s.c.created_at == bindparam("created"))
        )
        stamp = {
            "last_received_at": bindparam("now", type_=s.c.last_received_at.type),
            "updated_at": bindparam("now2", type_=UTCDateTime),
        }
        # "created" is passed back as the created query returned it, unconverted.
        self.touch = _Raw(update(s).where(owner).values(stamp), dialect, as_stored=("created",))
        self.touch_receiving = _Raw(
            update(s).where(owner).values({**stamp, "status": Status.RECEIVING.value}),
            dialect,
            as_stored=("created",),
        )
        archived_in_project = (
            select(i.c.sha256)
            .join(Scan, i.c.scan_id == Scan.id)
            .join(Session, Scan.session_id == Session.id)
            .where(Session.project_id == bindparam("project_id"))
        )
        self.spooled = _Raw(
            select(i.c.id).where(i.c.spool_path == bindparam("spool_path")).limit(1), dialect
        )
        self.fill = _Raw(
            update(i)
            .where(i.c.id == bindparam("instance_id"))
            .values(
                md5=bindparam("new_md5"),
                sha256=bindparam("new_sha256"),
                crc32=bindparam("new_crc32"),
            ),
            dialect,
        )
        self.archived_series = _Raw(
            archived_in_project.where(i.c.series_instance_uid == bindparam("series")).limit(1),
            dialect,
        )
        self.archived_copy = _Raw(
            archived_in_project.where(i.c.sop_instance_uid == bindparam("sop")).limit(1), dialect
        )
        columns = [
            "prearchive_id",
            "sop_instance_uid",
            "sop_class_uid",
            "transfer_syntax_uid",
            "study_instance_uid",
            "series_instance_uid",
            "series_number",
            "series_description",
            "modality",
            "body_part_examined",
            "instance_number",
            "number_of_frames",
            "spool_path",
            "size",
            "md5",
            "sha256",
            "crc32",
            "duplicate_of",
            "received_at",
        ]
        self.insert = _Raw(
            insert(i).values({c: bindparam(c, type_=i.c[c].type) for c in columns}), dialect
        )


_statements: dict[str, _Statements] = {}


def _prepared(conn: Connection) -> _Statements:
    dialect = conn.dialect
    found = _statements.get(dialect.name)
    if found is None:
        found = _statements[dialect.name] = _Statements(dialect)
    return found


def _archived(
    cursor: Any,
    sql: _Statements,
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


def _held_sha256(ctx: Context, cursor: Any, sql: _Statements, held: Any) -> str:
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
    sql: _Statements,
    header: Header,
    routed: Route,
    source: Source,
    staged: StagedFile,
) -> _Placement | None:
    """Look up the project and (creating it if needed) the staging session of an
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
        staging_id = _staging_session(db, project_key, header, routed, source)
        if source.hold:  # held from its first instance of this sender on
            db.execute(
                update(PrearchiveSession)
                .where(
                    PrearchiveSession.id == staging_id,
                    PrearchiveSession.source == source.label,  # never another's session
                )
                .values(hold=True)
            )
        db.commit()
    (created,) = sql.created.run(cursor, {"staging_id": staging_id}).fetchone()
    return _Placement(project_id, project_key, staging_id, created, clean)


def _file_one(
    ctx: Context, conn: Connection, cursor: Any, sql: _Statements, item: Incoming, now: dt.datetime
) -> None:
    header, source, staged = item.header, item.source, item.staged
    size = staged.end()  # hashed here only if a copy must be compared: see digests
    routed = route_for(header, source)
    placements = item.placements or Placements()
    study, series, sop = header.StudyInstanceUID, header.SeriesInstanceUID, header.SOPInstanceUID
    place = placements.get(routed.project, study)
    for _attempt in range(2):
        if place is None:
            place = _place(conn, cursor, sql, header, routed, source, staged)
            if place is None:
                item.result = Received(None, duplicate=True)
                return
            placements.put(routed.project, study, place)
        elif (
            place.project_id is not None
            and source.skip_archived
            and _archived(cursor, sql, place.project_id, header, staged, place.clean_series)
        ):
            # A copy found is found in the catalog as it is now. A look-up skipped for a
            # clean series is made again if the entry proves stale (the touch below).
            item.result = Received(None, duplicate=True)
            return
        held = sql.held.run(cursor, {"staging_id": place.staging_id, "sop": sop}).fetchone()
        conflict = held is not None
        same = conflict and _held_sha256(ctx, cursor, sql, held) == staged.seal().sha256
        name = spool.name(
            place.staging_id, series, sop, f".{staged.seal().sha256[:12]}" if conflict else ""
        )
        dest = ctx.store.data_dir / name
        known = same or (conflict and dest.exists())  # this very copy arrived before
        touch = sql.touch if known else sql.touch_receiving
        owner = {
            "staging_id": place.staging_id,
            "key": place.project_key,
            "study": study,
            "created": place.created,
            "now": now,
            "now2": now,
        }
        if touch.run(cursor, owner).rowcount == 1:
            break
        placements.drop(routed.project, study)  # archived, deleted or moved meanwhile
        place = None
    else:
        raise RuntimeError(f"the staging session of study {study} changed while filing")
    if known:
        item.result = Received(place.staging_id, duplicate=True)
        return
    try:
        staged.link(dest)
    except Conflict:
        # A name left by a writer killed before its commit may be replaced; a name the
        # catalog knows never is (PS3.5 UIDs cannot reach outside the spool, but a file
        # that is in the catalog stays as it is whatever arrives).
        if conflict or sql.spooled.run(cursor, {"spool_path": name}).fetchone() is not None:
            raise Conflict(
                f"Instance {sop} would replace a staged file the catalog holds.", field="dicom"
            ) from None
        staged.link(dest, replace_orphan=True)
    digest = staged.digest
    item.dest = dest
    sql.insert.run(
        cursor,
        {
            "prearchive_id": place.staging_id,
            "sop_instance_uid": sop,
            "sop_class_uid": header.SOPClassUID,
            "transfer_syntax_uid": header.TransferSyntaxUID,
            "study_instance_uid": study,
            "series_instance_uid": series,
            "series_number": header.SeriesNumber,
            "series_description": header.SeriesDescription,
            "modality": header.Modality,
            "body_part_examined": header.BodyPartExamined,
            "instance_number": header.InstanceNumber,
            "number_of_frames": header.NumberOfFrames,
            "spool_path": name,
            "size": size,
            "md5": digest.md5 if digest is not None else None,
            "sha256": digest.sha256 if digest is not None else None,
            "crc32": digest.crc32 if digest is not None else None,
            "duplicate_of": held[0] if held is not None else None,
            "received_at": now,
        },
    )
    if conflict:
        stored = conn.scalar(
            select(PrearchiveSession.problem_records).where(
                PrearchiveSession.id == place.staging_id
            )
        )
        if stored is not None:
            noted = problems.add(stored, problems.arrived_again(sop))
            if noted != stored:
                conn.execute(
                    update(PrearchiveSession)
                    .where(PrearchiveSession.id == place.staging_id)
                    .values(problem_records=noted)
                )
    item.result = Received(place.staging_id, conflict=conflict)


def file_batch(ctx: Context, batch: list[Incoming]) -> None:
    """File instances in one catalog transaction, each in a savepoint of its own.

    Every instance's spool name is linked first, then the files and their folders are
    fsynced, then the transaction commits (one fsync of the catalog for the batch).
    An instance that fails alone gets ``error`` and leaves nothing behind; when the
    batch as a whole fails (the commit, an fsync) the exception propagates and nothing
    of the batch stays linked or catalogued. The callers discard the staged files (their
    temporary names) afterwards.
    """
    now = utcnow()
    try:
        with ctx.db.write_connection() as conn:
            sql = _prepared(conn)
            driver = conn.connection.driver_connection
            assert driver is not None
            cursor = driver.cursor()
            single = len(batch) == 1
            # One order for every batch: PostgreSQL row locks are then taken in one order.
            for item in sorted(batch, key=lambda i: i.header.StudyInstanceUID):
                if single:
                    _file_one(ctx, conn, cursor, sql, item, now)
                    continue
                savepoint = conn.begin_nested()
                try:
                    _file_one(ctx, conn, cursor, sql, item, now)
                except Exception as exc:
                    savepoint.rollback()
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
