"""A project's archive script, run on every instance of a staged session as it is archived
(docs/deid.md, "As sessions are archived").

The spool keeps the originals; the archive gets only what the script made of them:

1. :func:`prepare`, outside any transaction: each instance that will be archived is
   de-identified by the script in force (:func:`scandepot.deid.engine.deidentify_file`)
   into a staged file under ``tmp/``, fsynced and hashed, and its header read back with
   the reader ingest uses (:func:`scandepot.dicom.headers.read_file_header`);
2. :func:`apply`, in the archive's transaction: the staged instance rows are rewritten
   from those headers (UIDs, dates, descriptions, checksums, size) and pointed at the
   de-identified files, the staged session takes the study attributes of its first
   instance as de-identified, the scans are planned again (same scan IDs, same series
   left out) and checked against the archive with the de-identified UIDs;
3. the archiver links the de-identified files, not the spool files, and the commit makes
   rows and files visible together; :meth:`Prepared.discard` then drops the temporary
   names.

Nothing is written in the staged session's rows before the commit, so a process killed
at any point leaves the session as it was: the next archive de-identifies it again, and
the output is the same (one project, one key). A failure (:class:`DeidFailed`) names the
instance and the reason; the archiver keeps the session in the prearchive with it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project
from scandepot.catalog.deid import Purpose
from scandepot.catalog.prearchive import (
    STUDY_ATTRIBUTES,
    UNASSIGNED,
    Instance,
    StagedSession,
    Status,
)
from scandepot.context import Context
from scandepot.deid import engine
from scandepot.deid import in_force as in_force_
from scandepot.deid.in_force import InForce
from scandepot.deid.model import Keys, Run
from scandepot.dicom.headers import Header, read_file_header
from scandepot.dicom.routing import clean
from scandepot.errors import Conflict, OutOfSpace, ScandepotError
from scandepot.prearchive import builder, problems
from scandepot.prearchive.builder import Plan
from scandepot.storage.store import StagedFile, StoredDigest

log = logging.getLogger("scandepot.prearchive")

# The script runs in the calling thread: pydicom holds the GIL while it reads, changes
# and writes a data set, so a second thread would only wait for it (and a script would
# have to be safe to apply from two threads at once). Each copy is hashed as it is
# written; its fsync, which waits on the device, runs on a pool beside the script
# (bench/deid_archive.py).
SYNC_THREADS = 8  # fsyncs that run together share the file system's journal commits
# Copies written and not yet fsynced, at most, before the script waits for the pool.
BACKLOG = 64

# A staged instance to de-identify: id, spool_path, SOPInstanceUID, SeriesInstanceUID,
# sha256 (of the staged file; None until its checksums are computed).
_Row = Row[int, str | None, str, str, str | None]


class DeidFailed(Conflict):
    """The archive script refused an instance, or failed on it: nothing is archived."""

    code = "deid_failed"


class Stale(Exception):
    """The staged session, its labels or the script in force changed between the
    de-identification and the archive's transaction: de-identify again."""


@dataclass(frozen=True, slots=True)
class Copy:
    """One staged instance as the script made it: its file (fsynced once the copies are
    all written), the file's checksums and header, and the checksum of the staged file it
    was made from (None when that was not known yet)."""

    original_series: str
    path: Path
    digest: StoredDigest
    header: Header
    source_sha256: str | None


@dataclass
class Prepared:
    """A staged session de-identified, ready for the archive's transaction: by what
    (script version and checksum, the key's fingerprint, the labels given to the run)."""

    staged_id: int
    version: int
    sha256: str
    label: str  # what the archived session records (``Session.deid``)
    keys: str  # fingerprint of the project's keys (:func:`fingerprint`)
    labels: tuple[str, str | None, str | None]  # project, subject, session given to the run
    data_dir: Path  # what spool paths are relative to
    copies: dict[int, Copy] = field(default_factory=dict)  # by instance row ID
    staged: list[StagedFile] = field(default_factory=list)  # temporary names to drop

    def discard(self) -> None:
        """Drop the temporary names; archived copies keep their archive names."""
        for staged in self.staged:
            staged.discard()
        self.staged.clear()
        self.copies.clear()


def fingerprint(keys: Keys) -> str:
    """What identifies a project's keys (secret and lookup table): copies made with
    other keys are made again."""
    digest = hashlib.sha256(keys.secret)
    for (kind, original), pseudonym in sorted(keys.lookup.items()):
        digest.update(f"\0{kind}\0{original}\0{pseudonym}".encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Inputs:
    """What de-identifying a staged session takes: the script in force, the run (keys and
    labels), the rows to archive, and the empty :class:`Prepared` the copies go into."""

    prepared: Prepared
    script: InForce
    run: Run
    rows: list[_Row]


def inputs(ctx: Context, staged_id: int) -> Inputs | None:
    """None when the session's project has no archive script in force (or the session
    cannot be archived at all, which the archive's transaction says)."""
    with ctx.db.read() as db:
        found = _in_force(db, staged_id)
        if found is None:
            return None
        staged, project, script = found
        labels = (project.label, clean(staged.subject), clean(staged.session))
        rows = _to_archive(db, staged, _recorded_plan(db, staged))
        try:
            keys = in_force_.keys_of(db, project.id, create=False)
        except LookupError:
            keys = None
    if keys is None:  # the project's secret, made at first use
        with ctx.db.write() as db:
            keys = in_force_.keys_of(db, project.id)
    params = {"PROJECT": labels[0], "SUBJECT": labels[1] or "", "SESSION": labels[2] or ""}
    prepared = Prepared(
        staged_id,
        script.version,
        script.sha256,
        script.label,
        fingerprint(keys),
        labels,
        ctx.store.data_dir,
    )
    return Inputs(prepared, script, Run(keys, params), rows)


def prepare(ctx: Context, staged_id: int, found: Inputs | None = None) -> Prepared | None:
    """De-identify what archiving ``staged_id`` will link into the archive (by ``found``,
    or the :func:`inputs` of now); None when no script is in force. :class:`DeidFailed`
    on the first instance the script refuses or fails on, nothing kept."""
    found = found if found is not None else inputs(ctx, staged_id)
    if found is None:
        return None
    prepared = found.prepared
    try:
        _deidentify_all(ctx, prepared, found.script, found.run, found.rows)
    except BaseException:
        prepared.discard()
        raise
    return prepared


def _in_force(db: DBSession, staged_id: int) -> tuple[StagedSession, Project, InForce] | None:
    staged = db.get(StagedSession, staged_id)
    if staged is None or staged.project_key == UNASSIGNED:
        return None
    project = db.scalar(select(Project).where(Project.label == staged.project_key))
    if project is None:
        return None
    try:
        script = in_force_.script_in_force(db, project.id, Purpose.ARCHIVE)
    except ScandepotError as exc:  # saved, then not loadable by this version
        raise DeidFailed(f"The project's archive script cannot be loaded: {exc.message}") from exc
    return (staged, project, script) if script is not None else None


def _recorded_plan(db: DBSession, staged: StagedSession) -> list[dict[str, Any]]:
    """The scans archiving will follow (builder.for_archive): the recorded plan of a
    READY session, or the plan a build would make now."""
    if staged.status == Status.READY:
        return list(staged.scans)
    return builder.plan(db, staged).scans


def _to_archive(
    db: DBSession, staged: StagedSession, scans: Sequence[dict[str, Any]]
) -> list[_Row]:
    """The instances the plan archives: not copies kept aside, not in a series left out."""
    left_out = {item["SeriesInstanceUID"] for item in scans if item["excluded"]}
    rows = db.execute(
        select(
            Instance.id,
            Instance.spool_path,
            Instance.SOPInstanceUID,
            Instance.SeriesInstanceUID,
            Instance.sha256,
        )
        .where(Instance.staged_id == staged.id, Instance.duplicate_of.is_(None))
        .order_by(Instance.id)
    ).all()
    return [row for row in rows if row.SeriesInstanceUID not in left_out]


def _deidentify_all(
    ctx: Context, prepared: Prepared, script: InForce, run: Run, rows: Sequence[_Row]
) -> None:
    """Each row's file de-identified in this thread, and each copy fsynced on a pool as
    soon as it is written. Raises the first failure, the pool's included, once the pool
    is done."""
    syncer = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="deid-sync")
    syncing: deque[Future[None]] = deque()
    done: list[Future[None]] = []
    try:
        for row in rows:
            copy, staged = _one(ctx, script, run, row)
            prepared.copies[row.id] = copy
            prepared.staged.append(staged)
            syncing.append(syncer.submit(staged.sync))
            while len(syncing) > BACKLOG:
                done.append(syncing.popleft())
                done[-1].result()
    finally:
        syncer.shutdown(wait=True)
    for future in [*done, *syncing]:
        future.result()  # a full disk or a failing device fails the archive


def _one(ctx: Context, script: InForce, run: Run, row: _Row) -> tuple[Copy, StagedFile]:
    """One staged instance de-identified into a staged file (written and hashed, closed,
    not yet fsynced), its header read back."""
    if row.spool_path is None:
        raise Conflict(f"The staged instance {row.SOPInstanceUID} has no spool file.")
    source = ctx.store.data_dir / row.spool_path
    out = ctx.store.stage()  # hashed as it is written: the file is not read again
    try:
        try:
            engine.deidentify_file(script.script, run, source, out)
            digest = out.park()  # sealed and closed; the pool fsyncs it
            header = read_file_header(out.tmp_path)
        except OutOfSpace:
            raise
        except ScandepotError as exc:  # Refused, NotDeidentified, not DICOM, ...
            raise _failed(script, row, exc.message) from exc
        except Exception as exc:  # a script's own error: a bug, yet the session waits
            raise _failed(script, row, f"{type(exc).__name__}: {exc}") from exc
    except BaseException:
        out.discard()
        raise
    copy = Copy(row.SeriesInstanceUID, out.tmp_path, digest, header, row.sha256)
    return copy, out


def _failed(script: InForce, row: _Row, reason: str) -> DeidFailed:
    name = Path(row.spool_path or "").name or row.SOPInstanceUID
    return DeidFailed(
        f"The archive script ({script.label}) failed on instance {row.SOPInstanceUID} "
        f"(file {name} of series {row.SeriesInstanceUID}): {reason}",
        details=[{"name": name, "reason": reason}],
    )


# -- in the archive's transaction ----------------------------------------------------------

# Instance columns taken from the de-identified header, by keyword.
_INSTANCE_KEYWORDS = (
    "SOPInstanceUID",
    "SOPClassUID",
    "TransferSyntaxUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "InstanceNumber",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "BitsAllocated",
    "SeriesDate",
    "SeriesTime",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)
# The staged session's study attributes (its first instance's), as ingest sets them.
_STUDY_KEYWORDS = ("StudyInstanceUID", "StudyDate", "StudyTime", *STUDY_ATTRIBUTES)
_FILE_COLUMNS = ("spool_path", "size", "md5", "sha256", "crc32")

_table = cast(Table, Instance.__table__)
_columns = {key: Instance.__mapper__.columns[key].name for key in _INSTANCE_KEYWORDS}
# Core, not ORM: with a list of rows it is one executemany, not a statement per instance.
_REWRITE = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"))
    .values(
        {
            **{name: bindparam(f"new_{name}") for name in _columns.values()},
            **{name: bindparam(f"new_{name}") for name in _FILE_COLUMNS},
        }
    )
)


def current(db: DBSession, staged: StagedSession, prepared: Prepared | None) -> None:
    """:class:`Stale` unless ``prepared`` is what the session needs now: the script in
    force (or none) and the labels it was run with."""
    project = db.scalar(select(Project).where(Project.label == staged.project_key))
    row = in_force_.newest(db, project.id, Purpose.ARCHIVE) if project is not None else None
    script = row if row is not None and row.enabled else None
    if prepared is None:
        if script is not None:
            raise Stale("an archive script came into force")
        return
    assert project is not None
    if script is None or (script.version, script.sha256) != (prepared.version, prepared.sha256):
        raise Stale("the archive script changed")
    labels = (staged.project_key, clean(staged.subject), clean(staged.session))
    if labels != prepared.labels:
        raise Stale("the session was relabelled")
    try:
        keys = in_force_.keys_of(db, project.id, create=False)
    except LookupError:
        raise Stale("the project has no key") from None
    if fingerprint(keys) != prepared.keys:
        raise Stale("the project's keys or pseudonym table changed")


def apply(db: DBSession, staged: StagedSession, prepared: Prepared, recorded: Plan) -> Plan:
    """Make the staged rows describe the de-identified files (see the module docstring)
    and return the plan to archive by, with its conflicts against the archive. With
    conflicts, every change made here is taken back (a savepoint) and the conflicts are
    recorded on the session, as a build records them."""
    rows = _to_archive(db, staged, recorded.scans)
    missing = [row.id for row in rows if row.id not in prepared.copies]
    if missing:
        raise Stale(f"{len(missing)} instances arrived meanwhile")
    changed = [row.id for row in rows if _changed(row, prepared.copies[row.id])]
    if changed:
        raise Stale(f"{len(changed)} instances were received again, other bytes")
    copies = [(row.id, prepared.copies[row.id]) for row in rows]
    if not copies:  # a new session would carry the study attributes as received
        raise DeidFailed("Every series is left out: nothing to archive, nothing de-identified.")
    series = _series_map(copies)
    savepoint = db.begin_nested()
    db.execute(_REWRITE, [_rewritten(prepared.data_dir, i, copy) for i, copy in copies])
    first = copies[0][1].header
    for keyword in _STUDY_KEYWORDS:
        setattr(staged, keyword, getattr(first, keyword))
    scans = _planned_again(db, staged, recorded.scans, series)
    project = db.scalar(select(Project).where(Project.label == staged.project_key))
    assert project is not None
    conflicts = builder.conflicts_with_archive(db, staged, project, scans)
    if conflicts:
        savepoint.rollback()
        kept = [p for p in recorded.problems if p.kind != problems.Kind.CONFLICT]
        found = [problems.Problem(problems.Kind.CONFLICT, text) for text in conflicts]
        staged.problem_records = problems.store([*kept, *found])
        return Plan(list(recorded.scans), recorded.problems, conflicts)
    savepoint.commit()
    staged.scans = scans
    return Plan(scans, recorded.problems, [])


def _changed(row: _Row, copy: Copy) -> bool:
    """Was the copy made from other bytes than the staged file holds now?"""
    return copy.source_sha256 is not None and row.sha256 != copy.source_sha256


def _rewritten(data_dir: Path, row_id: int, copy: Copy) -> dict[str, Any]:
    header, digest = copy.header, copy.digest
    values = {f"new_{name}": getattr(header, key) for key, name in _columns.items()}
    values.update(
        row_id=row_id,
        new_spool_path=str(copy.path.relative_to(data_dir)),
        new_size=digest.size,
        new_md5=digest.md5,
        new_sha256=digest.sha256,
        new_crc32=digest.crc32,
    )
    return values


def _series_map(copies: Sequence[tuple[int, Copy]]) -> dict[str, str]:
    """Each staged series' de-identified Series Instance UID. One study in, one study out;
    one series in, one series out; no two instances with one SOP Instance UID."""
    studies = {copy.header.StudyInstanceUID for _id, copy in copies}
    if len(studies) != 1:
        raise DeidFailed(
            f"The archive script gives the instances of one study {len(studies)} "
            "Study Instance UIDs; a session is one study."
        )
    sops = {copy.header.SOPInstanceUID for _id, copy in copies}
    if len(sops) != len(copies):
        raise DeidFailed("The archive script gives two instances one SOP Instance UID.")
    pairs = {(copy.original_series, copy.header.SeriesInstanceUID) for _id, copy in copies}
    series = dict(pairs)
    if len(series) != len(pairs) or len(set(series.values())) != len(series):
        raise DeidFailed(
            "The archive script does not map each series to a series of its own "
            "(Series Instance UID); a scan is one series."
        )
    return series


def _planned_again(
    db: DBSession, staged: StagedSession, recorded: Sequence[dict[str, Any]], series: dict[str, str]
) -> list[dict[str, Any]]:
    """The recorded plan's scans, summed up again from the rewritten rows (the builder's
    own sums), each keeping its scan ID and whether the series filter left it out."""
    fresh = {item["SeriesInstanceUID"]: item for item in builder.plan(db, staged).scans}
    scans: list[dict[str, Any]] = []
    for item in recorded:
        if item["excluded"]:
            scans.append(item)
            continue
        summed = fresh[series[item["SeriesInstanceUID"]]]
        scans.append({**summed, "id": item["id"], "excluded": False})
    return scans
