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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from scandepot.access import audit, permissions
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, Level
from scandepot.archive import projects, sessions
from scandepot.catalog.archive import (
    Project,
    Session,
)
from scandepot.catalog.labels import check_label, find_labelled
from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.context import Context
from scandepot.dicom.headers import NotDicom, read_file_header
from scandepot.errors import Conflict, Forbidden, Invalid
from scandepot.ingest import held as held_
from scandepot.ingest import unpack, upload_checks
from scandepot.ingest.modes import Destination, Options, Overwrite
from scandepot.ingest.receive import Incoming, Placements, Source, file_batch
from scandepot.ingest.upload_checks import Member
from scandepot.prearchive import archiver, builder, settle
from scandepot.prearchive.archiver import Archived
from scandepot.prearchive.destination import archives_after_build

log = logging.getLogger("scandepot.ingest")

BATCH = 64  # instances filed per catalog transaction
SYNC_THREADS = 8  # files fsynced at once before each transaction (the disk merges them)


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
    dicom_size: int  # bytes of those DICOM files
    sessions: list[Imported]
    skipped: list[Skipped]
    # Where the files of the upload that were held already are (nothing was added there).
    held: list[held_.Place] = field(default_factory=list)


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
        archives = archives_after_build(target.upload_destination)
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
    items: list[Member] = []
    skipped: list[Skipped] = []
    try:
        unreadable = _read_members(ctx, project, body, fmt, items, skipped)
        _refuse_unreadable(options, items, skipped, unreadable)
        source = Source(
            kind="upload",
            address=actor.address,
            project=project,
            subject=options.subject,
            session=options.session,
            hold=True,
            skip_archived=options.overwrite != Overwrite.DELETE,
            by=actor.login,
        )
        studies = _studies(items)
        with ctx.db.read() as db:
            places = upload_checks.check(db, actor, project, options, destination, studies, source)
        imported = _receive(ctx, items, source)
    finally:
        for item in items:
            item.staged.discard()
    _settle(ctx, imported, options, source)
    if destination == Destination.ARCHIVE:
        _archive(ctx, actor, project, imported, options)
    result = Result(
        project=project,
        destination=destination,
        files=len(items),
        size=body.stat().st_size,
        dicom_size=sum(item.staged.size for item in items),
        sessions=list(imported.values()),
        skipped=skipped,
        held=places,
    )
    _audit(ctx, actor, options, result)
    return result


def _audit(ctx: Context, actor: Actor, options: Options, result: Result) -> None:
    audit.record_now(
        ctx,
        actor,
        AuditAction.UPLOAD_IMPORTED,
        project=result.project,
        files=result.files,
        added=sum(s.added for s in result.sessions),
        skipped=len(result.skipped) or None,
        destination=result.destination.value,
        overwrite=options.overwrite.value,
        sessions=[f"{s.subject}/{s.session}" for s in result.sessions],
    )


def _refuse_unreadable(
    options: Options, items: list[Member], skipped: list[Skipped], unreadable: list[Skipped]
) -> None:
    """Files that are not DICOM refuse the upload unless ``ignore_unparsable`` (then they
    join ``skipped``); so does an upload without DICOM files."""
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


def _read_members(
    ctx: Context,
    project: str,
    body: Path,
    fmt: unpack.Format,
    items: list[Member],
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
        items.append(
            Member(
                member.name,
                staged,
                header.StudyInstanceUID,
                header.SOPInstanceUID,
                header if first else None,
            )
        )
    return unreadable


def _studies(items: list[Member]) -> dict[str, list[Member]]:
    found: dict[str, list[Member]] = {}
    for item in items:
        found.setdefault(item.StudyInstanceUID, []).append(item)
    return found


def _receive(ctx: Context, items: list[Member], source: Source) -> dict[int, Imported]:
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
                if received.staged_id is None:  # held in the archive already
                    continue
                entry = imported.get(received.staged_id)
                if entry is None:
                    entry = imported[received.staged_id] = Imported(
                        staged_id=received.staged_id,
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


def _settle(ctx: Context, imported: dict[int, Imported], options: Options, source: Source) -> None:
    """Step 3b: apply the given labels and build each staged session this upload's sender
    made, now (once the builder, if it took one meanwhile, has let it go)."""
    for staged_id, entry in imported.items():
        with settle.settled(ctx, staged_id) as (db, staged):
            if staged is None:
                raise Conflict(
                    f"Staged session {staged_id} was archived or deleted while the "
                    "upload was being received; upload again."
                )
            if staged.source == source.label:
                staged.hold = True
                if options.subject is not None:
                    staged.subject = options.subject
                if options.session is not None:
                    staged.session = options.session
                builder.build(db, staged)
            # Otherwise another sender's session, which the upload added to: it stays as
            # its sender left it (its labels, hold and build are theirs).
            _describe(entry, staged)


def _describe(entry: Imported, staged: StagedSession) -> None:
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
                staged = db.get(StagedSession, entry.staged_id)
                if staged is not None:
                    builder.build(db, staged)
                    _describe(entry, staged)
    blocked = [e for e in imported.values() if e.status != Status.READY]
    if blocked:
        raise Conflict(
            f"Staged session {blocked[0].staged_id} cannot be archived: "
            f"{'; '.join(p.rstrip('.') for p in blocked[0].problems) or blocked[0].status}. "
            "Nothing was archived; "
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
