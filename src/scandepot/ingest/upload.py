"""Importing an uploaded archive (zip, tar, tar.gz) into a project.

The same way in as C-STORE: every DICOM file goes through :func:`receive` into the
prearchive, and archiving goes through the same builder and archiver. An import runs in
three steps, so that bad input changes nothing:

1. every member is read into a temporary file (fsynced, hashed) and its header parsed;
   an archive that cannot be read safely, or holds files that are not DICOM (unless
   ``ignore_unparsable``), is refused here and the temporary files removed;
2. the studies found are checked against the project (one session per upload unless bulk
   uploads are allowed, subject creation, an existing session under ``overwrite=none``);
3. the files are received into staged sessions held for this upload, the sessions are
   built, and with ``destination=archive`` archived: all of them, or, when one has a
   conflict, none (they wait in the prearchive, and the answer says why).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit, permissions
from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, Level
from scandepot.archive import projects, sessions
from scandepot.archive.labels import LABEL_RULE, check_label, find_labelled
from scandepot.archive.models import (
    Project,
    Scan,
    Session,
    Subject,
    UploadDestination,
)
from scandepot.context import Context
from scandepot.dicom.headers import Header, NotDicom, read_file_header
from scandepot.dicom.routing import clean
from scandepot.errors import Conflict, Forbidden, Invalid
from scandepot.ingest import unpack
from scandepot.ingest.modes import Destination, Overwrite
from scandepot.ingest.receive import Incoming, Placements, Source, file_batch, route_for
from scandepot.prearchive import archiver, builder
from scandepot.prearchive.archiver import Archived
from scandepot.prearchive.models import Instance, PrearchiveSession, Status
from scandepot.storage.store import StagedFile

log = logging.getLogger("scandepot.ingest")

BUSY_WAIT_S = 60.0  # how long to wait for the builder to finish with a session
BATCH = 64  # instances filed per catalog transaction
SYNC_THREADS = 8  # files fsynced at once before each transaction (the disk merges them)


@dataclass(frozen=True, slots=True)
class Options:
    subject: str | None = None
    session: str | None = None
    destination: Destination | None = None  # None: the project's upload destination
    overwrite: Overwrite = Overwrite.NONE
    ignore_unparsable: bool = False


@dataclass(frozen=True, slots=True)
class Skipped:
    name: str
    reason: str


@dataclass
class Imported:
    """One study of the upload, where it went."""

    staged_id: int
    project: str
    subject: str | None
    session: str | None
    StudyInstanceUID: str
    status: str  # "archived", or the staged session's status
    files: int = 0  # files of this study in the upload
    added: int = 0  # of which new (not held already)
    scans: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    archived: Archived | None = None


@dataclass
class Result:
    project: str
    destination: Destination
    files: int  # DICOM files found in the upload
    size: int  # bytes uploaded
    sessions: list[Imported]
    skipped: list[Skipped]


@dataclass(frozen=True, slots=True)
class _Item:
    name: str
    staged: StagedFile
    StudyInstanceUID: str
    # Kept for the first file of each study only (its routing is checked before anything
    # is received); the others are read again when filed, so that memory does not grow
    # with the number of files by more than a few hundred bytes each.
    header: Header | None


def prepare(ctx: Context, actor: Actor, project: str, options: Options) -> Destination:
    """The checks that need no upload: access, labels, destination and overwrite rights.
    Returns the destination in force."""
    if options.subject is not None:
        check_label(options.subject, field="subject")
    if options.session is not None:
        check_label(options.session, field="session")
    with ctx.db.read() as db:
        target = projects.load(db, actor, project, Action.UPLOAD)
        level = permissions.level_on(db, actor, target)
        archives = target.upload_destination != UploadDestination.PREARCHIVE
        destination = options.destination or (
            Destination.ARCHIVE if archives else Destination.PREARCHIVE
        )
        if destination == Destination.ARCHIVE and not archives and level < Level.MANAGE:
            raise Forbidden(
                f"Project '{project}' sends uploads to the prearchive; only its owners may "
                "upload straight into the archive."
            )
        if options.overwrite == Overwrite.DELETE:
            if destination != Destination.ARCHIVE:
                raise Invalid("overwrite=delete needs destination=archive.", field="overwrite")
            permissions.require(db, actor, Action.DELETE, target)
    return destination


def run(
    ctx: Context,
    actor: Actor,
    project: str,
    options: Options,
    body: Path,
    *,
    destination: Destination,
) -> Result:
    """Import the archive at ``body`` (see the module docstring). ``destination`` is what
    :func:`prepare` returned."""
    fmt = unpack.sniff(body)
    items: list[_Item] = []
    skipped: list[Skipped] = []
    try:
        unreadable = _read_members(ctx, project, body, fmt, items, skipped)
        if unreadable and not options.ignore_unparsable:
            raise Invalid(
                f"{len(unreadable)} file(s) in the upload are not DICOM, the first "
                f"'{unreadable[0].name}': {unreadable[0].reason} Nothing was imported; "
                "remove them or set ignore_unparsable.",
                field="body",
                details=[{"name": s.name, "reason": s.reason} for s in unreadable[:100]],
            )
        skipped += unreadable
        if not items:
            raise Invalid(
                "The upload holds no DICOM files; nothing was imported.",
                field="body",
                details=[{"name": s.name, "reason": s.reason} for s in skipped[:100]],
            )
        source = Source(
            kind="upload",
            address=actor.address,
            project=project,
            subject=options.subject,
            session=options.session,
            hold=True,
            skip_archived=options.overwrite != Overwrite.DELETE,
        )
        studies = _studies(items)
        with ctx.db.read() as db:
            _check(db, actor, project, options, destination, studies, source)
        imported = _receive(ctx, items, source)
    finally:
        for item in items:
            item.staged.discard()
    _settle(ctx, imported, options)
    if destination == Destination.ARCHIVE:
        _archive(ctx, actor, project, imported, options)
    result = Result(
        project=project,
        destination=destination,
        files=len(items),
        size=body.stat().st_size,
        sessions=list(imported.values()),
        skipped=skipped,
    )
    audit.record_now(
        ctx,
        actor,
        "upload.imported",
        project=project,
        files=result.files,
        added=sum(s.added for s in result.sessions),
        skipped=len(skipped) or None,
        destination=destination.value,
        overwrite=options.overwrite.value,
        sessions=[f"{s.subject}/{s.session}" for s in result.sessions],
    )
    return result


def _read_members(
    ctx: Context,
    project: str,
    body: Path,
    fmt: unpack.Format,
    items: list[_Item],
    skipped: list[Skipped],
) -> list[Skipped]:
    """Step 1: each member to a temporary file, with its header; returns the non-DICOM."""
    with ctx.db.read() as db:
        target = db.scalar(select(Project).where(Project.label == project))
        assert target is not None
        mode, patterns = builder.series_filter(target)
    limits = unpack.Limits(
        max_expanded_bytes=ctx.settings.import_max_expanded_bytes,
        max_ratio=ctx.settings.import_max_ratio,
        max_members=ctx.settings.import_max_members,
    )
    unreadable: list[Skipped] = []
    studies_seen: set[str] = set()
    for member in unpack.members(body, fmt, limits):
        if isinstance(member, str):
            if not member.endswith("/"):
                skipped.append(Skipped(member, "A file the operating system left; not data."))
            continue
        if unpack.is_dicomdir(member.name):
            skipped.append(Skipped(member.name, "A DICOMDIR (a media index, not an image)."))
            continue
        staged = ctx.store.stage()
        try:
            for chunk in member.chunks():
                staged.write(chunk)
            staged.park()  # made durable in step 3, many at once
            header = read_file_header(staged.tmp_path)
        except NotDicom as exc:
            staged.discard()
            unreadable.append(Skipped(member.name, exc.args[0]))
            continue
        except BaseException:
            staged.discard()
            raise
        if builder.excluded(mode, patterns, header.SeriesDescription or ""):
            staged.discard()
            what = header.SeriesDescription or "no description"
            skipped.append(Skipped(member.name, f"Left out by the series filter ({what})."))
            continue
        first = header.StudyInstanceUID not in studies_seen
        studies_seen.add(header.StudyInstanceUID)
        items.append(_Item(member.name, staged, header.StudyInstanceUID, header if first else None))
    return unreadable


def _studies(items: list[_Item]) -> dict[str, list[_Item]]:
    found: dict[str, list[_Item]] = {}
    for item in items:
        found.setdefault(item.StudyInstanceUID, []).append(item)
    return found


def _check(
    db: DBSession,
    actor: Actor,
    project: str,
    options: Options,
    destination: Destination,
    studies: dict[str, list[_Item]],
    source: Source,
) -> None:
    """Step 2: the project's rules, before anything is received."""
    target = db.scalar(select(Project).where(Project.label == project))
    assert target is not None
    if len(studies) > 1 and not target.bulk_upload_allowed:
        raise Invalid(
            f"The upload holds {len(studies)} studies and project '{project}' takes one "
            "session per upload (bulk uploads are not allowed).",
            field="body",
        )
    if len(studies) > 1 and options.session is not None:
        raise Invalid(
            f"A session label was given but the upload holds {len(studies)} studies; "
            "upload them one at a time, or let the labels come from the DICOM headers.",
            field="session",
        )
    problems: list[dict[str, str]] = []
    for study_uid, study_items in studies.items():
        first = study_items[0].header
        assert first is not None
        routed = route_for(first, source)
        subject, session = clean(routed.subject), clean(routed.session)
        if destination == Destination.ARCHIVE and (subject is None or session is None):
            problems.append(
                {
                    "name": study_uid,
                    "reason": "No subject or session label could be derived from the "
                    f"headers; give them ({LABEL_RULE}).",
                }
            )
            continue
        if subject is None:
            continue
        subject_known = find_labelled(db, Subject, target.id, subject) is not None
        if not subject_known and not target.allow_subject_creation:
            problems.append(
                {
                    "name": study_uid,
                    "reason": f"Subject '{subject}' does not exist and project '{project}' "
                    "does not allow creating subjects.",
                }
            )
        if (
            destination == Destination.ARCHIVE
            and options.overwrite == Overwrite.NONE
            and session is not None
            and find_labelled(db, Session, target.id, session) is not None
        ):
            problems.append(
                {
                    "name": study_uid,
                    "reason": f"Session '{session}' exists already; upload with "
                    "overwrite=append to add to it or overwrite=delete to replace it.",
                }
            )
    if problems:
        error = Conflict if any("exists already" in p["reason"] for p in problems) else Invalid
        raise error(
            f"{problems[0]['reason']} Nothing was imported.",
            field="body",
            details=problems,
        )


def _receive(ctx: Context, items: list[_Item], source: Source) -> dict[int, Imported]:
    """Step 3a: every file into the prearchive, as C-STORE data is: in batches of one
    catalog transaction each, the files of a batch fsynced in parallel first."""
    imported: dict[int, Imported] = {}
    placements = Placements()
    with ThreadPoolExecutor(SYNC_THREADS) as pool:
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            batch = [
                Incoming(
                    i.staged, source, i.header or read_file_header(i.staged.tmp_path), placements
                )
                for i in chunk
            ]
            list(pool.map(lambda i: i.staged.sync(), batch))
            file_batch(ctx, batch)
            for item, incoming in zip(chunk, batch, strict=True):
                item.staged.discard()
                if incoming.error is not None:
                    raise incoming.error
                received = incoming.result
                assert received is not None
                if received.prearchive_id is None:  # held in the archive already
                    continue
                entry = imported.get(received.prearchive_id)
                if entry is None:
                    entry = imported[received.prearchive_id] = Imported(
                        staged_id=received.prearchive_id,
                        project=source.project or "",
                        subject=None,
                        session=None,
                        StudyInstanceUID=item.StudyInstanceUID,
                        status=Status.RECEIVING,
                    )
                entry.files += 1
                if not received.duplicate:
                    entry.added += 1
    return imported


def _settle(ctx: Context, imported: dict[int, Imported], options: Options) -> None:
    """Step 3b: apply the given labels and build each staged session now."""
    for staged_id, entry in imported.items():
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            with ctx.db.write() as db:
                staged = db.get(PrearchiveSession, staged_id)
                if staged is None:
                    raise Conflict(
                        f"Staged session {staged_id} was archived or deleted while the "
                        "upload was being received; upload again."
                    )
                if staged.status not in (Status.BUILDING, Status.ARCHIVING):
                    staged.hold = True
                    if options.subject is not None:
                        staged.subject = options.subject
                    if options.session is not None:
                        staged.session = options.session
                    builder.build(db, staged)
                    _describe(entry, staged)
                    break
            if time.monotonic() > deadline:
                raise Conflict(f"Staged session {staged_id} is busy; try again shortly.")
            time.sleep(0.2)


def _describe(entry: Imported, staged: PrearchiveSession) -> None:
    entry.subject, entry.session = staged.subject, staged.session
    entry.status = staged.status
    entry.problems = list(staged.problems)
    entry.scans = [
        {
            "id": s["id"],
            "SeriesNumber": s["SeriesNumber"],
            "SeriesDescription": s["SeriesDescription"],
            "Modality": s["Modality"],
            "files": s["files"],
            "size": s["size"],
        }
        for s in staged.scans
        if not s["excluded"]
    ]


def _archive(
    ctx: Context, actor: Actor, project: str, imported: dict[int, Imported], options: Options
) -> None:
    """Step 3c: archive every staged session of the upload, or none."""
    if options.overwrite == Overwrite.DELETE:
        with ctx.db.read() as db:
            target = db.scalar(select(Project).where(Project.label == project))
            assert target is not None
            found = (
                find_labelled(db, Session, target.id, e.session)
                for e in imported.values()
                if e.session is not None
            )
            present = [session.label for session in found if session is not None]
        for label in present:
            sessions.delete(ctx, actor, project, label)
        with ctx.db.write() as db:  # conflicts with the deleted sessions are gone
            for entry in imported.values():
                staged = db.get(PrearchiveSession, entry.staged_id)
                if staged is not None:
                    builder.build(db, staged)
                    _describe(entry, staged)
    blocked = [e for e in imported.values() if e.status != Status.READY]
    if blocked:
        raise Conflict(
            f"Staged session {blocked[0].staged_id} cannot be archived: "
            f"{'; '.join(blocked[0].problems) or blocked[0].status}. Nothing was archived; "
            "the upload waits in the prearchive.",
            details=[
                {"name": f"prearchive:{e.staged_id}", "reason": "; ".join(e.problems)}
                for e in blocked
            ],
        )
    for entry in imported.values():
        entry.archived = archiver.archive(ctx, actor, entry.staged_id)
        entry.status = "archived"
        entry.subject, entry.session = entry.archived.subject, entry.archived.session


@dataclass(frozen=True, slots=True)
class Held:
    SOPInstanceUID: str
    sha256: str
    where: str  # "prearchive:<id>" or "archive:<session ID>"


def held(ctx: Context, actor: Actor, project: str, wanted: Iterable[tuple[str, str]]) -> list[Held]:
    """Which of (SOPInstanceUID, SHA-256) the project holds already, in its prearchive or
    its archive, with those very bytes: what a resumed upload need not send again.
    Instances received over DICOM and not yet hashed (until their session is built) are
    not reported: sent again, they are compared on arrival and count as duplicates."""
    pairs = list(dict.fromkeys(wanted))
    found: list[Held] = []
    with ctx.db.read() as db:
        target = projects.load(db, actor, project, Action.UPLOAD)
        for batch in _batches(pairs, 400):
            match = tuple_(Instance.SOPInstanceUID, Instance.sha256).in_(batch)
            staged_rows = db.execute(
                select(Instance.SOPInstanceUID, Instance.sha256, Instance.prearchive_id)
                .join(PrearchiveSession, Instance.prearchive_id == PrearchiveSession.id)
                .where(match, PrearchiveSession.project_key == target.label)
            ).all()
            found += [Held(u, h, f"prearchive:{i}") for u, h, i in staged_rows if h is not None]
            archived_rows = db.execute(
                select(Instance.SOPInstanceUID, Instance.sha256, Session.accession)
                .join(Scan, Instance.scan_id == Scan.id)
                .join(Session, Scan.session_id == Session.id)
                .where(match, Session.project_id == target.id)
            ).all()
            found += [Held(u, h, f"archive:{a}") for u, h, a in archived_rows if h is not None]
    return found


def _batches(pairs: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for start in range(0, len(pairs), size):
        yield pairs[start : start + size]
