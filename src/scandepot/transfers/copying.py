"""Copy one planned session into the destination: rows and hard links, in one transaction.

Archived files are never changed in place, so a copy is a second name for each file on
the same file system (a hard link): a 2000-file session takes about a second whatever
its size. The links are written down in a journal before they are made
(:class:`~scandepot.storage.changes.Changes`); a run killed before its commit is undone
from that journal when the transfer resumes, and a run that did commit marks its item
copied in the same transaction, so each file is on the destination exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, inspect, literal, null, select
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import aliased

from scandepot.archive import layout
from scandepot.archive.resources import new_resource
from scandepot.catalog import journal
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.labels import by_label
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.transfers import ItemStatus, Transfer, TransferItem
from scandepot.context import Context
from scandepot.errors import Conflict
from scandepot.events import SessionArchived
from scandepot.storage.changes import Changes, Link, undo_journal
from scandepot.storage.store import make_dirs
from scandepot.transfers.plan import DICOM_RESOURCE, scan_chosen
from scandepot.transfers.requests import TransferRequest

_NOT_COPIED = {"id", "stable_id", "project_id", "subject_id", "label", "created_at", "updated_at"}


@dataclass
class Copied:
    """What one item's copy wrote."""

    session_id: int = 0
    stable_id: str = ""
    scans: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    left_out: list[str] = field(default_factory=list)  # resources not copied (clashes)
    copied: list[str] = field(default_factory=list)  # "scan 3:DICOM", "session:QA", ...
    event: SessionArchived | None = None  # journalled with the copy (into the archive)
    folders: set[Path] = field(default_factory=set)


def journal_path(ctx: Context, item_id: int) -> Path:
    return ctx.store.tmp / f"transfer-item-{item_id}.journal"


def settle_journal(ctx: Context, item: TransferItem) -> None:
    """A journal left by a killed run: undone if its item did not commit, else dropped."""
    path = journal_path(ctx, item.id)
    if not path.exists():
        return
    if item.status == ItemStatus.PENDING.value:
        undo_journal(ctx.store, path)
    else:
        path.unlink(missing_ok=True)


def _values(row: Any, skip: set[str]) -> dict[str, Any]:
    mapper = inspect(type(row))
    return {a.key: getattr(row, a.key) for a in mapper.column_attrs if a.key not in skip}


def ends(db: DBSession, transfer: Transfer, item: TransferItem) -> tuple[Session, Project]:
    """The source session and the destination project of ``item``, as they are now."""
    source = db.get(Session, item.source_session_id) if item.source_session_id else None
    dest = db.get(Project, transfer.dest_project_id) if transfer.dest_project_id else None
    if source is None or dest is None:
        raise Conflict(f"{item.source_subject}/{item.source_session} is gone; not copied.")
    return source, dest


def copy_item(ctx: Context, transfer: Transfer, item: TransferItem) -> Copied:
    """Copy ``item``'s session as planned, committing the item as copied with it."""
    request = TransferRequest.model_validate(transfer.request)
    out = Copied()
    with (
        Changes(ctx.store, journal=journal_path(ctx, item.id)) as changes,
        ctx.db.write() as db,
    ):
        source, dest = ends(db, transfer, item)
        subject, new_subject = _subject(ctx, db, dest, source.subject, item.dest_subject)
        merge = item.verified.get("action") == "merge"
        session = _session(ctx, db, dest, subject, source, item.dest_session, merge=merge)
        out.session_id, out.stable_id = session.id, session.stable_id
        for scan in db.scalars(select(Scan).where(Scan.session_id == source.id).order_by(Scan.id)):
            if scan_chosen(scan, request.scans):
                _scan(ctx, db, changes, request, scan, session, out)
        if request.with_resources:
            _resources(
                ctx,
                db,
                changes,
                source,
                f"session:{source.id}",
                layout.Owner(dest, subject, session),
                out,
            )
            if new_subject:
                _resources(
                    ctx,
                    db,
                    changes,
                    source,
                    f"subject:{source.subject_id}",
                    layout.Owner(dest, subject),
                    out,
                )
        changes.sync_folders(sorted(out.folders))
        row = db.get(TransferItem, item.id)
        assert row is not None
        row.status, row.dest_session_id, row.files = ItemStatus.COPIED.value, session.id, out.files
        row.verified = {
            **row.verified,
            "copied": out.copied,
            "left_out": out.left_out,
            "bytes": out.bytes,
        }
        parent = db.get(Transfer, transfer.id)
        assert parent is not None
        parent.files_done += out.files
        # In the same transaction: notifications and webhooks hear of it exactly when it is.
        out.event = arrived(transfer, item, out)
        journal.record(db, out.event)
    return out


def arrived(transfer: Transfer, item: TransferItem, copied: Copied) -> SessionArchived:
    """The copy, arrived in the destination as any archived session does."""
    return SessionArchived(
        project=transfer.destination,
        subject=item.dest_subject,
        session=item.dest_session,
        session_id=copied.stable_id,
        scans=tuple(copied.scans),
        merged=item.verified.get("action") == "merge",
        files=copied.files,
        by=transfer.requested_by,
        uploader=transfer.requested_by,
        source=f"transfer:{transfer.source}",
    )


def _subject(
    ctx: Context, db: DBSession, dest: Project, source: Subject, label: str
) -> tuple[Subject, bool]:
    found = db.scalar(
        by_label(select(Subject).where(Subject.project_id == dest.id), Subject.label, label)
    )
    if found is not None:
        return found, False
    subject = Subject(
        project_id=dest.id,
        label=label,
        stable_id=next_stable_id(db, "subject", ctx.settings.site_id),
        **_values(source, _NOT_COPIED),
    )
    db.add(subject)
    db.flush()
    return subject, True


def _session(
    ctx: Context,
    db: DBSession,
    dest: Project,
    subject: Subject,
    source: Session,
    label: str,
    *,
    merge: bool,
) -> Session:
    found = db.scalar(
        by_label(select(Session).where(Session.project_id == dest.id), Session.label, label)
    )
    if found is not None:
        if not merge:
            raise Conflict(
                f"Session '{label}' appeared in '{dest.label}' since the check; not merged."
            )
        if found.subject_id != subject.id:
            raise Conflict(f"Session '{label}' of '{dest.label}' belongs to another subject.")
        if found.StudyInstanceUID and found.StudyInstanceUID != source.StudyInstanceUID:
            raise Conflict(f"Invalid modification of session UID: '{label}' of '{dest.label}'.")
        return found
    session = Session(
        project_id=dest.id,
        subject_id=subject.id,
        label=label,
        stable_id=next_stable_id(db, "session", ctx.settings.site_id),
        **_values(source, _NOT_COPIED),
    )
    db.add(session)
    db.flush()
    return session


def _scan(
    ctx: Context,
    db: DBSession,
    changes: Changes,
    request: TransferRequest,
    source: Scan,
    session: Session,
    out: Copied,
) -> None:
    taken = db.scalar(
        select(Scan.id).where(Scan.session_id == session.id, Scan.label == source.label)
    )
    if taken is not None:
        raise Conflict(
            f"Scan {source.label} exists in session '{session.label}' of the destination already."
        )
    scan = Scan(
        session_id=session.id, label=source.label, **_values(source, _NOT_COPIED | {"session_id"})
    )
    db.add(scan)
    db.flush()
    scan.session = session
    where = Resource.parent_key == f"scan:{source.id}"
    if not request.with_resources:
        where = where & (Resource.label == DICOM_RESOURCE)
    target = layout.Owner(session.project, session.subject, session, scan)
    src_owner = layout.Owner(source.session.project, source.session.subject, source.session, source)
    for resource in db.scalars(select(Resource).where(where).order_by(Resource.label)):
        new_id = copy_resource(ctx, db, changes, resource, src_owner, target, out)
        _instances(db, source.id, scan.id, resource.id, new_id)
    out.scans.append(source.label)


def _resources(
    ctx: Context,
    db: DBSession,
    changes: Changes,
    source: Session,
    key: str,
    target: layout.Owner,
    out: Copied,
) -> None:
    level, _, _id = key.partition(":")
    src_owner = (
        layout.Owner(source.project, source.subject, source)
        if level == "session"
        else layout.Owner(source.project, source.subject)
    )
    for resource in db.scalars(
        select(Resource).where(Resource.parent_key == key).order_by(Resource.label)
    ):
        there = db.scalar(
            select(Resource.id).where(
                Resource.parent_key == target.key, Resource.label == resource.label
            )
        )
        if there is not None:
            out.left_out.append(f"{level} resource {resource.label} (one of that label is there)")
            continue
        copy_resource(ctx, db, changes, resource, src_owner, target, out)


def copy_resource(
    ctx: Context,
    db: DBSession,
    changes: Changes,
    resource: Resource,
    src_owner: layout.Owner,
    target: layout.Owner,
    out: Copied,
) -> int:
    """One resource's row, its files' rows (one INSERT ... SELECT) and links; returns
    the new resource's ID."""
    new = new_resource(target, resource.label, format=resource.format, content=resource.content)
    db.add(new)
    db.flush()
    scan = f"scan {target.scan.label}" if target.scan else target.level.value
    out.copied.append(f"{scan}:{resource.label}")
    files = db.execute(
        select(File.path, File.size, File.sha256).where(File.resource_id == resource.id)
    ).all()
    if not files:
        return new.id
    src_dir = str(ctx.archive_path(src_owner.resource_files_dir(resource.label)))
    dest_dir = str(ctx.archive_path(target.resource_files_dir(resource.label)))
    make_dirs(Path(dest_dir))
    changes.link(
        [
            Link(Path(f"{src_dir}/{path}"), Path(f"{dest_dir}/{path}"), size, sha256)
            for path, size, sha256 in files
        ]
    )
    # Paths as strings: pathlib per file was a tenth of the copy.
    subfolders = {path.rpartition("/")[0] for path, _size, _sha in files}
    out.folders.update(Path(f"{dest_dir}/{sub}") for sub in subfolders)
    copied = [c for c in File.__table__.c if c.name not in _FILE_OWN]
    db.execute(
        insert(File).from_select(
            ["resource_id", *copied],
            select(literal(new.id), *copied).where(File.resource_id == resource.id),
        )
    )
    out.files += len(files)
    out.bytes += sum(size for _path, size, _sha in files)
    return new.id


_FILE_OWN = {"id", "resource_id", "created_at", "updated_at"}  # the copy's own values
_INSTANCE_OWN = {"id", "scan_id", "file_id", "prearchive_id", "spool_path"}


def _instances(db: DBSession, source_scan: int, scan_id: int, old: int, new: int) -> None:
    """The catalogued DICOM instances of the copied files, now also of the new scan:
    one INSERT ... SELECT, each to the new file of its old file's path."""
    source, copy = aliased(File), aliased(File)
    inst = Instance.__table__
    kept = [c for c in inst.c if c.name not in _INSTANCE_OWN]
    db.execute(
        insert(Instance).from_select(
            [inst.c.scan_id, inst.c.file_id, inst.c.prearchive_id, inst.c.spool_path, *kept],
            select(literal(scan_id), copy.id, null(), null(), *kept)
            .join(source, inst.c.file_id == source.id)
            .join(copy, (copy.resource_id == new) & (copy.path == source.path))
            .where(inst.c.scan_id == source_scan, source.resource_id == old),
        )
    )
