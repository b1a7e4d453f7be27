"""Archiving a staged session: subject and session created or merged, files moved.

Files move from the prearchive spool into the archive layout without copying: each is
hard-linked at its archive name, the catalog change commits, and only then are the spool
names removed. A crash before the commit leaves the spool whole (and links the catalog
does not know, which a retry reuses); a failed commit removes the new links. Merge rules:

- no session with the label: a new session;
- a session with the label and the same StudyInstanceUID: merged; new scans are added,
  existing scans keep their files unless ``overwrite``, and then replaced files are reported;
- a session with the label and another StudyInstanceUID: CONFLICT, "Invalid modification
  of session UID"; nothing moves;
- a scan ID held by another SeriesInstanceUID: CONFLICT naming both.

Archiving with overwrite, or into a project whose conflict policy is ``replace``, replaces
archived files that differ from the incoming ones; conflicts always need a relabel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.audit import AuditAction
from scandepot.archive import holds, layout, resources, shared
from scandepot.catalog import journal as event_journal
from scandepot.catalog.archive import ConflictPolicy, File, Project, Scan, Session, Subject
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.labels import find_labelled
from scandepot.catalog.prearchive import (
    STUDY_ATTRIBUTES,
    UNASSIGNED,
    Instance,
    StagedSession,
    Status,
)
from scandepot.catalog.transfers import ShareKind
from scandepot.context import Context
from scandepot.dicom.routing import clean
from scandepot.errors import Conflict, Invalid
from scandepot.events import SessionArchived, SessionNeedsAttention
from scandepot.prearchive import builder, deid_ahead, deidentify, digests, journal, problems
from scandepot.storage import spool
from scandepot.storage.changes import Changes, Link
from scandepot.storage.store import make_dirs

DICOM_RESOURCE = "DICOM"

log = logging.getLogger("scandepot.prearchive")


@dataclass
class Archived:
    project: str
    subject: str
    session: str
    session_id: str
    merged: bool
    scans: list[str] = field(default_factory=list)
    files: int = 0
    unchanged: int = 0  # instances already archived with the same bytes
    replaced: list[str] = field(default_factory=list)  # with overwrite
    kept: list[str] = field(default_factory=list)  # differing instances not replaced
    left_out: list[str] = field(default_factory=list)  # series filtered out


def _not_shared(db: DBSession, project: Project, kind: ShareKind, label: str) -> None:
    """A label that a subject or session shared into ``project`` holds there is taken:
    what is shared is changed in its own project (docs/transfers.md)."""
    owner = shared.owner_of(db, project.id, kind, label)
    if owner is not None:
        raise shared.shared_from(kind.value, label, owner)


def _subject(db: DBSession, ctx: Context, project: Project, label: str) -> Subject:
    subject = find_labelled(db, Subject, project.id, label)
    if subject is None:
        _not_shared(db, project, ShareKind.SUBJECT, label)
        subject = Subject(
            project_id=project.id,
            label=label,
            stable_id=next_stable_id(db, "subject", ctx.settings.site_id),
            fields={},
        )
        db.add(subject)
        db.flush()
        subject.project = project
    return subject


def _session(
    db: DBSession,
    ctx: Context,
    project: Project,
    subject: Subject,
    label: str,
    staged: StagedSession,
) -> tuple[Session, bool]:
    session = find_labelled(db, Session, project.id, label)
    modalities = sorted({s["Modality"] for s in staged.scans if s.get("Modality")})
    if session is not None:  # merged: the modalities it holds now
        held = (session.ModalitiesInStudy or "").split("\\")
        session.ModalitiesInStudy = _modalities(set(held) | set(modalities))
        return session, True
    _not_shared(db, project, ShareKind.SESSION, label)
    session = Session(
        project_id=project.id,
        subject_id=subject.id,
        label=label,
        stable_id=next_stable_id(db, "session", ctx.settings.site_id),
        modality=modalities[0] if len(modalities) == 1 else ("/".join(modalities) or None),
        date=staged.StudyDate,
        time=staged.StudyTime,
        note="",
        StudyInstanceUID=staged.StudyInstanceUID,
        ModalitiesInStudy=_modalities(set(modalities)),
        **{name: getattr(staged, name) for name in STUDY_ATTRIBUTES},
    )
    db.add(session)
    db.flush()
    session.project, session.subject = project, subject
    return session, False


def _modalities(found: set[str]) -> str | None:
    """Modalities in Study (0008,0061) as DICOM writes a multi-valued CS: backslashes."""
    return "\\".join(sorted(m for m in found if m))[:64] or None


def archive(ctx: Context, actor: Actor, staged_id: int, *, overwrite: bool = False) -> Archived:
    """Move a staged session into the archive. Access is the caller's business (the
    prearchive operations check it); the builder calls this as the system.

    In a project with an archive script in force, the archive gets what the script makes
    of each instance, never the instance as received (:mod:`.deidentify`); if the script
    refuses or fails on one, nothing is archived and the session waits in the prearchive
    with the reason (:class:`~.deidentify.DeidFailed`)."""
    for _attempt in range(_ATTEMPTS):
        # The copies made while the session waited, if any and still current; else now.
        with deid_ahead.held(ctx, staged_id) as ahead:
            prepared = ahead
            try:
                if prepared is None:
                    prepared = deidentify.prepare(ctx, staged_id)
                return _archive(ctx, actor, staged_id, overwrite, prepared)
            except deidentify.Stale as exc:
                log.info("staged session %d de-identified again: %s", staged_id, exc)
                if ahead is not None:
                    deid_ahead.drop(ctx, staged_id)
            except deidentify.DeidFailed as exc:
                _deid_failed(ctx, staged_id, exc)
                raise
            finally:
                if prepared is not None:
                    prepared.discard()  # archived copies keep their archive names
    raise Conflict(
        f"Staged session {staged_id} kept changing while it was de-identified; "
        "archive it again when it is quiet."
    )


# Times a staged session is de-identified again when it changed meanwhile.
_ATTEMPTS = 3


def _archive(
    ctx: Context,
    actor: Actor,
    staged_id: int,
    overwrite: bool,
    prepared: deidentify.Prepared | None,
) -> Archived:
    if prepared is None:  # de-identified copies are hashed as they are written
        digests.complete(ctx, staged_id)  # outside the transaction: files are read
    # The file changes are written down before they are made, for a process killed
    # meanwhile (journal.undo), and taken back if the commit fails.
    with (
        Changes(ctx.store, journal=journal.path(ctx, staged_id)) as changes,
        ctx.db.write() as db,
    ):
        staged = db.get(StagedSession, staged_id, with_for_update=True)
        if staged is None:
            raise Invalid(f"Staged session {staged_id} not found.", field="id")
        if staged.project_key == UNASSIGNED:
            raise Conflict("Route the session to a project before archiving it.")
        result = builder.for_archive(db, staged)
        if not result.conflicts:
            deidentify.current(db, staged, prepared)
            if prepared is not None:
                result = deidentify.apply(db, staged, prepared, result)
        if result.conflicts:
            # Overwrite replaces differing files; it never changes which study a
            # session is, or which series a scan is: those need a relabel.
            staged.status = Status.CONFLICT
            told = attention(db, staged, "; ".join(result.conflicts))
            db.commit()
            ctx.events.publish(told)
            raise Conflict("; ".join(result.conflicts))
        resolved = tuple(staged.problems)
        label = prepared.label if prepared is not None else None
        out = _into_archive(ctx, db, changes, actor, staged, overwrite, label)
        event = _archived_event(out, actor, staged, resolved)
        event_journal.record(db, event)
        db.delete(staged)
    ctx.store.remove_tree(spool.folder(ctx.store, staged_id))
    ctx.events.publish(event)
    return out


def _deid_failed(ctx: Context, staged_id: int, failure: deidentify.DeidFailed) -> None:
    """The session stays in the prearchive, in error, with the reason as its problem."""
    log.warning("staged session %d not archived: %s", staged_id, failure.message)
    with ctx.db.write() as db:
        staged = db.get(StagedSession, staged_id)
        if staged is None:
            return
        staged.status = Status.ERROR
        records = problems.without(staged.problem_records, problems.Kind.DEID)
        staged.problem_records = problems.add(records, problems.deid_failed(failure.message))
        told = attention(db, staged, failure.message)
    ctx.events.publish(told)  # after the commit of its journal row


def _archived_event(
    out: Archived, actor: Actor, staged: StagedSession, resolved: tuple[str, ...]
) -> SessionArchived:
    source = staged.source or ""
    kind, _, who = source.partition(":")
    uploader = who if kind in {"upload", "stow"} and who else None
    if uploader is None and actor.login != SYSTEM.login:
        uploader = actor.login  # archived by hand: the person who asked
    return SessionArchived(
        project=out.project,
        subject=out.subject,
        session=out.session,
        session_id=out.session_id,
        scans=tuple(out.scans),
        merged=out.merged,
        files=out.files,
        left_out=tuple(out.left_out),
        replaced=len(out.replaced),
        kept=len(out.kept),
        resolved=resolved,
        by=actor.login,
        uploader=uploader,
        source=source,
    )


def _into_archive(
    ctx: Context,
    db: DBSession,
    changes: Changes,
    actor: Actor,
    staged: StagedSession,
    overwrite: bool,
    deid: str | None,
) -> Archived:
    """The archive's side of one staged session: its subject and session made or found,
    each planned scan's files linked and catalogued, the folders synced, an audit entry.
    ``deid`` names the archive script that made the files (``Session.deid``)."""
    staged.status = Status.ARCHIVING
    project = db.scalar(select(Project).where(Project.label == staged.project_key))
    assert project is not None
    overwrite = overwrite or project.conflict_policy == ConflictPolicy.REPLACE
    subject_label, session_label = clean(staged.subject), clean(staged.session)
    assert subject_label and session_label
    subject = _subject(db, ctx, project, subject_label)
    session, merged = _session(db, ctx, project, subject, session_label, staged)
    out = Archived(project.label, subject.label, session.label, session.stable_id, merged)
    folders: set[Path] = set()
    for item in staged.scans:
        if item["excluded"]:
            out.left_out.append(item["id"])
            continue
        owner = layout.Owner(project, subject, session, _scan(db, session, item))
        folders.add(_file_scan(ctx, db, changes, staged, owner, item, overwrite, out, actor))
    if not merged or out.files:  # a merge that added files made by another script, or none
        session.deid = deid
    changes.sync_folders(sorted(folders))
    audit.record(
        db,
        actor,
        AuditAction.PREARCHIVE_ARCHIVED,
        project=project.label,
        target=f"{subject.label}/{session.label}",
        files=out.files,
        merged=merged,
        overwrite=overwrite,
        replaced=len(out.replaced) or None,
    )
    return out


def _scan(db: DBSession, session: Session, item: dict[str, Any]) -> Scan:
    """The archived scan a staged scan goes into, made if new."""
    scan = db.scalar(select(Scan).where(Scan.session_id == session.id, Scan.label == item["id"]))
    if scan is None:
        scan = Scan(
            session_id=session.id,
            label=item["id"],
            type=item["SeriesDescription"],
            SeriesInstanceUID=item["SeriesInstanceUID"],
            SeriesNumber=item["SeriesNumber"],
            SeriesDescription=item["SeriesDescription"],
            Modality=item["Modality"],
            BodyPartExamined=item["BodyPartExamined"],
            SeriesDate=_plan_date(item.get("SeriesDate")),
            SeriesTime=_plan_time(item.get("SeriesTime")),
            PerformedProcedureStepStartDate=_plan_date(item.get("PerformedProcedureStepStartDate")),
            PerformedProcedureStepStartTime=_plan_time(item.get("PerformedProcedureStepStartTime")),
            note="",
        )
        db.add(scan)
        db.flush()
    scan.session = session
    return scan


def _plan_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _plan_time(value: str | None) -> time | None:
    return time.fromisoformat(value) if value else None


def _file_scan(
    ctx: Context,
    db: DBSession,
    changes: Changes,
    staged: StagedSession,
    owner: layout.Owner,
    item: dict[str, Any],
    overwrite: bool,
    out: Archived,
    actor: Actor,
) -> Path:
    """Link (or, with overwrite, replace) one staged series' files at their archive
    names and catalogue them; returns the folder, which the caller fsyncs."""
    assert owner.scan is not None
    scan = owner.scan
    resource = resources.find_or_create(db, owner, DICOM_RESOURCE)
    folder = ctx.archive_path(owner.resource_files_dir(DICOM_RESOURCE))
    make_dirs(folder)
    instances = db.scalars(
        select(Instance).where(
            Instance.staged_id == staged.id,
            Instance.SeriesInstanceUID == item["SeriesInstanceUID"],
            Instance.duplicate_of.is_(None),
        )
    ).all()
    # The scan's archived files at once, not one look-up per instance; the new File rows
    # are flushed once per scan, not once per instance.
    archived = {f.path: f for f in db.scalars(select(File).where(File.resource_id == resource.id))}
    links, replacements = _sort(ctx, instances, archived, item["id"], overwrite, out)
    if replacements:  # other bytes for a file a released dataset holds: refused
        chosen = holds.files(record.id for _inst, record in replacements)
        holds.refuse_held(db, actor, chosen, doing=f"replace files of scan {item['id']}")
    data = ctx.store.data_dir
    # First what each instance needs, then the changes (written down before they are made).
    changes.replace([(data / str(i.spool_path), folder / str(r.path)) for i, r in replacements])
    for _inst, record in replacements:
        db.execute(delete(Instance).where(Instance.file_id == record.id))
        out.replaced.append(f"{item['id']}/{record.path}")
    # A file already at an archive name the catalog does not hold was left by an archive
    # that did not commit (one killed before journals, or whose staged session was deleted
    # since): the same bytes are taken as done, other bytes stop the archive.
    changes.link(
        [Link(data / str(i.spool_path), folder / name, i.size, i.sha256) for i, name in links]
    )
    added = [
        (inst, File(resource_id=resource.id, path=name, format="DICOM")) for inst, name in links
    ]
    db.add_all(record for _inst, record in added)
    _catalogue(db, scan, [*replacements, *added])
    out.files += len(replacements) + len(added)
    frames = item.get("frames")
    if frames and (scan.frames or 0) < frames:
        scan.frames = frames
    if replacements or added:
        out.scans.append(item["id"])
    return folder


def _sort(
    ctx: Context,
    instances: Sequence[Instance],
    archived: dict[str, File],
    scan_id: str,
    overwrite: bool,
    out: Archived,
) -> tuple[list[tuple[Instance, str]], list[tuple[Instance, File]]]:
    """Which instances are linked at a new archive name, and which replace an archived
    file (with overwrite); the same bytes archived already, or other bytes kept without
    overwrite, are counted in ``out``."""
    links: list[tuple[Instance, str]] = []
    replacements: list[tuple[Instance, File]] = []
    for inst in instances:
        name = journal.archive_name(inst.SOPInstanceUID)
        record = archived.get(name)
        # Arrived since the build's checksums, or staged before CRC-32s were kept.
        if inst.md5 is None or inst.sha256 is None or inst.crc32 is None:
            digest = digests.of_staged(ctx, inst.spool_path, inst.size)
            inst.md5, inst.sha256, inst.crc32 = digest.md5, digest.sha256, digest.crc32
        if record is None:
            links.append((inst, name))
        elif record.sha256 == inst.sha256:
            out.unchanged += 1
        elif not overwrite:
            out.kept.append(f"{scan_id}/{name}")
        else:
            replacements.append((inst, record))
    return links, replacements


def _catalogue(db: DBSession, scan: Scan, moved: list[tuple[Instance, File]]) -> None:
    """Each instance becomes the archived instance of its file, with its checksums."""
    for inst, record in moved:
        assert inst.md5 is not None and inst.sha256 is not None  # filled by _sort
        record.size, record.md5, record.sha256 = inst.size, inst.md5, inst.sha256
        record.crc32 = inst.crc32
    db.flush()
    for inst, record in moved:
        inst.staged_id = None
        inst.scan_id = scan.id
        inst.file_id = record.id
        inst.spool_path = None


def attention(db: DBSession, staged: StagedSession, reason: str) -> SessionNeedsAttention:
    """Write in the caller's transaction that ``staged`` needs someone's attention (its
    status set already); returns the event, to publish after the commit."""
    event = SessionNeedsAttention(
        staged_id=staged.id,
        project=staged.project_key or None,
        StudyInstanceUID=staged.StudyInstanceUID,
        status=staged.status,
        reason=reason,
        subject=staged.subject,
        session=staged.session,
        source=staged.source or "",
    )
    event_journal.record(db, event)
    return event
