"""De-identified copies (``deidentify``): the chosen scans' DICOM instances through the
source project's export script, written as new files into the destination.

A plain copy hard-links the stored files; a de-identified one cannot, since its bytes
differ (new UIDs, names gone, dates moved). Each instance is read, de-identified and
verified (:class:`scandepot.export.deidentified.Deidentifier`, as a de-identified
download does) and written to a staged file (storage/) *before* the item's transaction:
:func:`prepare`. The transaction then links the staged files at their names, in the
destination's archive (:mod:`.deid_landing`) or its prearchive's spool, with new rows
made from the de-identified headers, and the staged names go. The stored originals are
never changed; they stay in the source (a move is refused: it would delete them).

An instance the script refuses (or that may show burned-in annotation, unless
``allow_burned_in``) is left out and listed in the item's report; the verification
(:func:`compare_item`) then compares what was written, by checksum and by reading the
bytes back, and counts the instances: those of the source = written + refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from scandepot.archive import layout
from scandepot.catalog.archive import File, Resource, Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.transfers import Transfer, TransferItem
from scandepot.context import Context
from scandepot.dicom.headers import Header, NotDicom, read_header
from scandepot.export.deidentified import Deidentifier, InstanceRefused, load
from scandepot.storage.store import StagedFile, StoredDigest
from scandepot.transfers import verify
from scandepot.transfers.copying import ends
from scandepot.transfers.plan import DICOM_RESOURCE, scan_chosen
from scandepot.transfers.requests import TransferRequest


@dataclass
class Made:
    """One de-identified instance, written under a temporary name."""

    scan: str  # the source scan's label, kept in the destination
    scan_type: str | None
    staged: StagedFile
    digest: StoredDigest
    header: Header  # read back from what was written

    @property
    def name(self) -> str:
        """Its file name: the new SOP Instance UID, checked on the way in (read_header)."""
        return f"{self.header.SOPInstanceUID}.dcm"

    @property
    def where(self) -> str:
        return f"scan {self.scan}:{DICOM_RESOURCE}"


@dataclass
class Prepared:
    made: list[Made] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    source_instances: int = 0
    script: str = ""  # the export script that made them: "export v2 sha256:1a2b…"

    def by_scan(self) -> Iterator[tuple[str, list[Made]]]:
        groups: dict[str, list[Made]] = {}
        for m in self.made:
            groups.setdefault(m.scan, []).append(m)
        yield from groups.items()

    def report(self) -> dict[str, Any]:
        """What the item's report keeps: the written files' checksums, for the
        verification, and the refused instances with their reasons."""
        return {
            "deidentified": self.script,
            "written": {f"{m.where}/{m.name}": [m.digest.size, m.digest.sha256] for m in self.made},
            "refused": self.refused,
            "source_instances": self.source_instances,
        }

    def discard(self) -> None:
        """The temporary names go (after the commit the files live on at their links)."""
        for m in self.made:
            m.staged.discard()


def deidentifier(ctx: Context, transfer: Transfer) -> Deidentifier:
    """The source's export script and keys; Conflict when it has none any more."""
    request = TransferRequest.model_validate(transfer.request)
    assert transfer.source_project_id is not None
    with ctx.db.write() as db:  # the keys are made at first use
        return load(
            db,
            transfer.source_project_id,
            transfer.source,
            allow_burned_in=request.allow_burned_in,
        )


def _sources(ctx: Context, transfer: Transfer, item: TransferItem) -> list[tuple[Scan, Path]]:
    """Each chosen scan's stored DICOM instance: its scan and its file."""
    request = TransferRequest.model_validate(transfer.request)
    out: list[tuple[Scan, Path]] = []
    with ctx.db.read() as db:
        source, _dest = ends(db, transfer, item)
        for scan in db.scalars(select(Scan).where(Scan.session_id == source.id)):
            if not scan_chosen(scan, request.scans):
                continue
            owner = layout.Owner(source.project, source.subject, source, scan)
            folder = ctx.archive_path(owner.resource_files_dir(DICOM_RESOURCE))
            paths = db.scalars(
                select(File.path)
                .join(Instance, Instance.file_id == File.id)
                .join(Resource, File.resource_id == Resource.id)
                .where(Instance.scan_id == scan.id, Resource.label == DICOM_RESOURCE)
                .order_by(File.path)
            )
            out += [(scan, folder / path) for path in paths]
        db.expunge_all()
    return out


def prepare(ctx: Context, deid: Deidentifier, transfer: Transfer, item: TransferItem) -> Prepared:
    """Every chosen instance de-identified into a staged file (none half-written: on an
    error the staged files go)."""
    out = Prepared(script=deid.script_label)
    seen: set[str] = set()
    try:
        for scan, path in _sources(ctx, transfer, item):
            out.source_instances += 1
            made = _one(ctx, deid, item, scan, path, seen)
            if isinstance(made, Made):
                out.made.append(made)
            else:
                out.refused.append(made)
    except BaseException:
        out.discard()
        raise
    return out


def _one(
    ctx: Context, deid: Deidentifier, item: TransferItem, scan: Scan, path: Path, seen: set[str]
) -> Made | dict[str, Any]:
    """One instance written de-identified, or why it was refused (named by its scan, not
    by its file name: the original SOP Instance UID)."""
    try:
        done = deid.run(path.read_bytes(), subject=item.dest_subject, session=item.dest_session)
        if done.SOPInstanceUID in seen:
            return _refusal(scan, "refused", "Another instance has the same SOP Instance UID.")
    except InstanceRefused as exc:
        return _refusal(scan, exc.refusal.code, exc.refusal.message)
    staged = ctx.store.stage()
    try:
        staged.write(done.data)
        digest = staged.finish()
        header = read_header(staged.tmp_path)
    except NotDicom as exc:
        staged.discard()
        return _refusal(scan, "not_dicom", f"Not fileable after de-identification: {exc}")
    except BaseException:
        staged.discard()
        raise
    seen.add(done.SOPInstanceUID)
    return Made(scan.label, scan.type, staged, digest, header)


def _refusal(scan: Scan, code: str, reason: str) -> dict[str, Any]:
    return {"scan": scan.label, "code": code, "reason": reason}


def compare_item(ctx: Context, item: TransferItem) -> verify.Compared:
    """What was written against what the destination holds: the same files with the
    checksums they were written with (catalog, and the bytes read back), and as many
    instances there as were written, and in the source as were written or refused."""
    out = verify.Compared(by=["catalog", "bytes", "instances"])
    report = item.verified
    written: dict[verify.Key, tuple[int, str, str]] = {}
    for key, (size, sha256) in report.get("written", {}).items():
        where, _, name = str(key).partition("/")
        written[(where, name)] = (int(size), str(sha256), "")
    copied = list(report.get("copied", []))
    out.scans = len({w.split(":")[0] for w in copied if w.startswith("scan ")})
    staged = report.get("staged")
    with ctx.db.read() as db:
        dest = db.get(Session, item.dest_session_id) if item.dest_session_id else None
        if staged is not None:
            after = _staged_files(ctx, db, int(staged), written)
            held = db.scalar(select(func.count(Instance.id)).where(Instance.staged_id == staged))
        elif dest is not None:
            after = verify.files_of(ctx, db, dest, copied)
            held = db.scalar(
                select(func.count(Instance.id))
                .join(Scan, Instance.scan_id == Scan.id)
                .where(Scan.session_id == dest.id)
            )
        else:
            out.wrong("the destination session is gone")
            return out
    verify.compare_files(written, after, out, read_bytes=True)
    refused = len(report.get("refused", []))
    if held != len(written):
        out.wrong(f"{held} instance(s) catalogued on the destination, {len(written)} written")
    if report.get("source_instances") != len(written) + refused:
        out.wrong(
            f"{report.get('source_instances')} instance(s) in the source, "
            f"{len(written)} written and {refused} refused"
        )
    return out


def _staged_files(
    ctx: Context, db: Any, staged_id: int, written: dict[verify.Key, Any]
) -> dict[verify.Key, tuple[int, str, str]]:
    """The staged instances under the keys they were written with."""
    where = {name: w for (w, name) in written}
    out: dict[verify.Key, tuple[int, str, str]] = {}
    for inst in db.scalars(select(Instance).where(Instance.staged_id == staged_id)):
        name = f"{inst.SOPInstanceUID}.dcm"
        key = (where.get(name, "not written by this transfer"), name)
        out[key] = (inst.size, str(inst.sha256), str(ctx.store.data_dir / str(inst.spool_path)))
    return out
