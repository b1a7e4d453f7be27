"""Where de-identified copies land (:mod:`.deidentified` made them): rows and links in one
transaction per session, as a plain copy's (copying.py) or staging's (staging.py).

The catalog's study and series attributes (Patient's Name, dates, UIDs...) are read from
the de-identified headers, never copied from the source's rows, which hold the
originals; labels are the ones planned (the destination's), and a new subject gets its
label only (the source subject's sex, age, group and fields are not carried over).
The staged files are linked at their names through the item's journal, so a run killed
before its commit is undone when the transfer resumes, as a plain copy is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session as DBSession

from scandepot.archive import layout
from scandepot.archive.resources import new_resource
from scandepot.catalog import journal
from scandepot.catalog.archive import File, Project, Scan, Session, Subject
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.labels import by_label
from scandepot.catalog.prearchive import STUDY_ATTRIBUTES, Instance, StagedSession
from scandepot.catalog.transfers import ItemStatus, Transfer, TransferItem
from scandepot.context import Context
from scandepot.dicom.headers import Header
from scandepot.errors import Conflict
from scandepot.export.deidentified import Deidentifier
from scandepot.storage import spool
from scandepot.storage.changes import Changes, Link
from scandepot.storage.store import make_dirs
from scandepot.transfers.copying import Copied, arrived, ends, journal_path
from scandepot.transfers.deidentified import Made, Prepared, prepare
from scandepot.transfers.plan import DICOM_RESOURCE
from scandepot.transfers.requests import Landing, TransferRequest
from scandepot.transfers.staging import held_session

# Study attributes a session (and a staged session) keeps, read from the first instance.
STUDY = ("StudyInstanceUID", *STUDY_ATTRIBUTES)
SERIES = (
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "SeriesDate",
    "SeriesTime",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)
_OWN = {"id", "staged_id", "scan_id", "file_id", "spool_path", "size", "md5", "sha256", "crc32"}
_OWN |= {"duplicate_of", "received_at"}


def _instance(header: Header, made: Made, **own: Any) -> Instance:
    keys = [a.key for a in inspect(Instance).column_attrs if a.key not in _OWN]
    values = {k: getattr(header, k) for k in keys}
    d = made.digest
    return Instance(**values, size=d.size, md5=d.md5, sha256=d.sha256, crc32=d.crc32, **own)


def _modalities(prepared: Prepared) -> list[str]:
    return sorted({m.header.Modality for m in prepared.made if m.header.Modality})


def into_archive(ctx: Context, transfer: Transfer, item: TransferItem, prep: Prepared) -> Copied:
    """The de-identified session in the destination's archive, the item marked copied."""
    out = Copied()
    with (
        Changes(ctx.store, journal=journal_path(ctx, item.id)) as changes,
        ctx.db.write() as db,
    ):
        _source, dest = ends(db, transfer, item)
        subject = _subject(ctx, db, dest, item.dest_subject)
        session = _session(ctx, db, dest, subject, item.dest_session, prep)
        out.session_id, out.stable_id = session.id, session.stable_id
        for label, made in prep.by_scan():
            _scan(ctx, db, changes, session, label, made, out)
        changes.sync_folders(sorted(out.folders))
        _copied(db, transfer, item, prep, out, dest_session_id=session.id)
        out.event = arrived(transfer, item, out)
        journal.record(db, out.event)
    return out


def _subject(ctx: Context, db: DBSession, dest: Project, label: str) -> Subject:
    stmt = select(Subject).where(Subject.project_id == dest.id)
    found = db.scalar(by_label(stmt, Subject.label, label))
    if found is not None:
        return found
    subject = Subject(
        project_id=dest.id,
        label=label,
        stable_id=next_stable_id(db, "subject", ctx.settings.site_id),
        fields={},
    )
    db.add(subject)
    db.flush()
    return subject


def _session(
    ctx: Context, db: DBSession, dest: Project, subject: Subject, label: str, prep: Prepared
) -> Session:
    stmt = select(Session).where(Session.project_id == dest.id)
    if db.scalar(by_label(stmt, Session.label, label)) is not None:
        raise Conflict(f"Session '{label}' appeared in '{dest.label}' since the check.")
    first = prep.made[0].header
    modalities = _modalities(prep)
    session = Session(
        project_id=dest.id,
        subject_id=subject.id,
        label=label,
        stable_id=next_stable_id(db, "session", ctx.settings.site_id),
        modality=modalities[0] if len(modalities) == 1 else ("/".join(modalities) or None),
        date=first.StudyDate,
        time=first.StudyTime,
        note="",
        deid=prep.script,  # the script that made its files (Session.deid)
        ModalitiesInStudy="\\".join(modalities)[:64] or None,
        **{name: getattr(first, name) for name in STUDY},
    )
    db.add(session)
    db.flush()
    return session


def _scan(
    ctx: Context,
    db: DBSession,
    changes: Changes,
    session: Session,
    label: str,
    made: list[Made],
    out: Copied,
) -> None:
    first = made[0]
    scan = Scan(
        session_id=session.id,
        label=label,
        type=first.scan_type,
        note="",
        frames=sum(m.header.NumberOfFrames or 1 for m in made),
        **{name: getattr(first.header, name) for name in SERIES},
    )
    db.add(scan)
    db.flush()
    scan.session = session
    owner = layout.Owner(session.project, session.subject, session, scan)
    resource = new_resource(owner, DICOM_RESOURCE, format="DICOM")
    db.add(resource)
    db.flush()
    folder = ctx.archive_path(owner.resource_files_dir(DICOM_RESOURCE))
    make_dirs(folder)
    changes.link(
        [Link(m.staged.tmp_path, folder / m.name, m.digest.size, m.digest.sha256) for m in made]
    )
    files = [
        File(
            resource_id=resource.id,
            path=m.name,
            size=m.digest.size,
            md5=m.digest.md5,
            sha256=m.digest.sha256,
            crc32=m.digest.crc32,
            format="DICOM",
        )
        for m in made
    ]
    db.add_all(files)
    db.flush()
    db.add_all(
        _instance(m.header, m, scan_id=scan.id, file_id=f.id)
        for m, f in zip(made, files, strict=True)
    )
    out.folders.add(folder)
    out.scans.append(label)
    out.copied.append(f"scan {label}:{DICOM_RESOURCE}")
    out.files += len(made)
    out.bytes += sum(m.digest.size for m in made)


def _copied(
    db: DBSession,
    transfer: Transfer,
    item: TransferItem,
    prep: Prepared,
    out: Copied,
    **more: Any,
) -> None:
    row = db.get(TransferItem, item.id)
    assert row is not None
    row.status, row.files = ItemStatus.COPIED.value, out.files
    if "dest_session_id" in more:
        row.dest_session_id = more.pop("dest_session_id")
    row.verified = {
        **row.verified,
        "copied": out.copied,
        "bytes": out.bytes,
        **prep.report(),
        **more,
    }
    parent = db.get(Transfer, transfer.id)
    assert parent is not None
    parent.files_done += out.files


def into_prearchive(ctx: Context, transfer: Transfer, item: TransferItem, prep: Prepared) -> Copied:
    """The de-identified instances staged in the destination's prearchive, held for
    review there like any transferred session (staging.py)."""
    out = Copied()
    with (
        Changes(ctx.store, journal=journal_path(ctx, item.id)) as changes,
        ctx.db.write() as db,
    ):
        _source, dest = ends(db, transfer, item)
        staged = _staged(db, dest, item, prep, transfer.source)
        data = ctx.store.data_dir
        links = []
        for made in prep.made:
            h = made.header
            name = spool.name(staged.id, h.SeriesInstanceUID, h.SOPInstanceUID)
            d = made.digest
            links.append(Link(made.staged.tmp_path, data / name, d.size, d.sha256))
            db.add(_instance(h, made, staged_id=staged.id, spool_path=name))
        for parent in {link.dest.parent for link in links}:
            make_dirs(parent)
        changes.link(links)
        out.folders.update(link.dest.parent for link in links)
        changes.sync_folders(sorted(out.folders))
        for label, made_in_scan in prep.by_scan():
            out.scans.append(label)
            out.copied.append(f"scan {label}:{DICOM_RESOURCE}")
            out.files += len(made_in_scan)
            out.bytes += sum(m.digest.size for m in made_in_scan)
        _copied(db, transfer, item, prep, out, staged=staged.id)
    return out


def _staged(
    db: DBSession, dest: Project, item: TransferItem, prep: Prepared, origin: str
) -> StagedSession:
    first = prep.made[0].header
    study = {name: getattr(first, name) for name in STUDY if name != "StudyInstanceUID"}
    return held_session(
        db,
        dest,
        item,
        origin,
        first.StudyInstanceUID,
        first.StudyDate,
        first.StudyTime,
        study,
        what="The de-identified study",
    )


def copy_item(ctx: Context, deid: Deidentifier, transfer: Transfer, item: TransferItem) -> Copied:
    """One item de-identified and landed as the transfer was planned to land."""
    request = TransferRequest.model_validate(transfer.request)
    prep = prepare(ctx, deid, transfer, item)
    try:
        if not prep.made:
            _none_written(ctx, item, prep)
            return Copied()
        if request.landing is Landing.PREARCHIVE:
            return into_prearchive(ctx, transfer, item, prep)
        return into_archive(ctx, transfer, item, prep)
    finally:
        prep.discard()


def _none_written(ctx: Context, item: TransferItem, prep: Prepared) -> None:
    """Every instance refused: the session is skipped, with the reasons."""
    with ctx.db.write() as db:
        row = db.get(TransferItem, item.id)
        assert row is not None
        row.status = ItemStatus.SKIPPED.value
        row.verified = {**row.verified, **prep.report(), "skipped": "every instance was refused"}
