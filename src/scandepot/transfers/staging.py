"""Copy one planned session into the destination's prearchive, for review there.

A project whose upload destination is the prearchive gets transferred sessions as it
gets uploads: staged, held until someone archives them (hold), built when quiet by the
prearchive's builder like any other. The chosen scans' DICOM instances are hard-linked
into the spool under a new staged session, with their catalogued instances; the links
are journalled as a copy's are (copying.py), and the item is marked copied in the same
transaction.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session as DBSession

from scandepot.archive import layout
from scandepot.catalog.archive import File, Project, Resource, Scan, Session
from scandepot.catalog.ids import next_value
from scandepot.catalog.prearchive import STUDY_ATTRIBUTES, Instance, StagedSession, Status
from scandepot.catalog.transfers import ItemStatus, Transfer, TransferItem
from scandepot.context import Context
from scandepot.errors import Conflict
from scandepot.storage import spool
from scandepot.storage.changes import Changes, Link
from scandepot.storage.store import make_dirs
from scandepot.transfers.copying import Copied, ends, journal_path
from scandepot.transfers.plan import DICOM_RESOURCE, scan_chosen
from scandepot.transfers.requests import TransferRequest


def stage_item(ctx: Context, transfer: Transfer, item: TransferItem) -> Copied:
    request = TransferRequest.model_validate(transfer.request)
    out = Copied()
    with (
        Changes(ctx.store, journal=journal_path(ctx, item.id)) as changes,
        ctx.db.write() as db,
    ):
        source, dest = ends(db, transfer, item)
        if not source.StudyInstanceUID:
            raise Conflict(f"{item.source_subject}/{item.source_session} is no DICOM study.")
        staged = _staged(db, dest, source, item, transfer.source)
        for scan in db.scalars(select(Scan).where(Scan.session_id == source.id)):
            if scan_chosen(scan, request.scans):
                _stage_scan(ctx, db, changes, staged, scan, out)
        changes.sync_folders(sorted(out.folders))
        row = db.get(TransferItem, item.id)
        assert row is not None
        row.status, row.files = ItemStatus.COPIED.value, out.files
        row.verified = {"copied": out.copied, "staged": staged.id, "bytes": out.bytes}
        parent = db.get(Transfer, transfer.id)
        assert parent is not None
        parent.files_done += out.files
    return out


def _staged(
    db: DBSession, dest: Project, source: Session, item: TransferItem, origin: str
) -> StagedSession:
    uid = source.StudyInstanceUID
    assert uid is not None
    study = {name: getattr(source, name) for name in STUDY_ATTRIBUTES}
    return held_session(db, dest, item, origin, uid, source.date, source.time, study)


def held_session(
    db: DBSession,
    dest: Project,
    item: TransferItem,
    origin: str,
    uid: str,
    day: date | None,
    at: time | None,
    study: dict[str, Any],
    *,
    what: str = "Study {uid}",
) -> StagedSession:
    """The held staged session a transferred session lands as in ``dest``'s prearchive;
    a study waiting there already is a :class:`Conflict` (``what`` names it)."""
    waiting = db.scalar(
        select(StagedSession.id).where(
            StagedSession.project_key == dest.label, StagedSession.StudyInstanceUID == uid
        )
    )
    if waiting is not None:
        raise Conflict(
            f"{what.format(uid=uid)} waits in the prearchive of '{dest.label}' already "
            f"(staged session {waiting}); archive or delete it first."
        )
    staged = StagedSession(
        id=next_value(db, "prearchive"),
        project_key=dest.label,
        StudyInstanceUID=uid,
        subject=item.dest_subject,
        session=item.dest_session,
        status=Status.RECEIVING,
        routing={"rule": "transfer", "project": dest.label},
        problem_records=[],
        scans=[],
        source=f"transfer:{origin}",
        hold=True,
        StudyDate=day,
        StudyTime=at,
        **study,
    )
    db.add(staged)
    db.flush()
    return staged


def _stage_scan(
    ctx: Context,
    db: DBSession,
    changes: Changes,
    staged: StagedSession,
    scan: Scan,
    out: Copied,
) -> None:
    rows = db.execute(
        select(Instance, File, Resource)
        .join(File, Instance.file_id == File.id)
        .join(Resource, File.resource_id == Resource.id)
        .where(Instance.scan_id == scan.id, Resource.label == DICOM_RESOURCE)
    ).all()
    if not rows:
        return
    session = scan.session
    owner = layout.Owner(session.project, session.subject, session, scan)
    folder = ctx.archive_path(owner.resource_files_dir(DICOM_RESOURCE))
    keys = [a.key for a in inspect(Instance).column_attrs if a.key != "id"]
    links, values = [], []
    for inst, file, _resource in rows:
        name = spool.name(staged.id, inst.SeriesInstanceUID, inst.SOPInstanceUID)
        links.append(Link(folder / file.path, ctx.store.data_dir / name, file.size, file.sha256))
        row: dict[str, Any] = {key: getattr(inst, key) for key in keys}
        row.update(staged_id=staged.id, scan_id=None, file_id=None, spool_path=name)
        row.update(size=file.size, md5=file.md5, sha256=file.sha256, crc32=file.crc32)
        values.append(row)
    for parent in {link.dest.parent for link in links}:
        make_dirs(parent)
    changes.link(links)
    db.add_all(Instance(**value) for value in values)
    out.folders.update(link.dest.parent for link in links)
    out.copied.append(f"scan {scan.label}:{DICOM_RESOURCE}")
    out.scans.append(scan.label)
    out.files += len(rows)
    out.bytes += sum(file.size for _inst, file, _r in rows)
