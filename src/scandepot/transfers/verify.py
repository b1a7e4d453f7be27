"""Compare a copied session with its source: from the catalog, and from the bytes.

From the catalog: the same scans, and in each copied resource the same files, sizes and
SHA-256 checksums. From the bytes: every destination file read back and hashed, against
the checksum the source's catalog holds. A move deletes its source only after both
passed; the report keeps what was compared and what was found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.archive import layout
from scandepot.catalog.archive import File, Resource, Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.transfers import TransferItem
from scandepot.context import Context

HASH_THREADS = 4  # hashlib lets go of the GIL: files are hashed side by side
MAX_SHOWN = 20  # mismatches named in a report; the count is always whole

Key = tuple[str, str]  # (where: "scan 3:DICOM" or "session:QA", file path)


@dataclass
class Compared:
    scans: int = 0
    files: int = 0
    bytes: int = 0
    by: list[str] = field(default_factory=list)  # "catalog", "bytes"
    mismatches: list[str] = field(default_factory=list)
    mismatch_count: int = 0

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    def wrong(self, text: str) -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < MAX_SHOWN:
            self.mismatches.append(text)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def files_of(
    ctx: Context, db: DBSession, session: Session, copied: list[str]
) -> dict[Key, tuple[int, str, str]]:
    """(size, sha256, path on disk) of the files in ``session``'s resources that
    ``copied`` names ("scan 3:DICOM", "session:QA", "subject:NOTES"). Plain columns and
    paths as strings: entities and pathlib per file were most of a catalog comparison."""
    wanted = set(copied)
    out: dict[Key, tuple[int, str, str]] = {}
    rows = db.execute(
        select(
            Resource.id,
            Resource.label,
            Resource.level,
            Resource.scan_id,
            Scan.label,
            File.path,
            File.size,
            File.sha256,
        )
        .join(File, File.resource_id == Resource.id)
        .outerjoin(Scan, Resource.scan_id == Scan.id)
        .where(
            (Resource.session_id == session.id)
            | ((Resource.subject_id == session.subject_id) & (Resource.level == "subject"))
        )
    )
    folders: dict[int, str] = {}
    for resource_id, label, level, scan_id, scan_label, path, size, sha256 in rows:
        where = f"scan {scan_label}:{label}" if scan_label is not None else f"{level}:{label}"
        if where not in wanted:
            continue
        folder = folders.get(resource_id)
        if folder is None:
            owner = layout.Owner(
                session.project,
                session.subject,
                session if level in {"session", "scan"} else None,
                db.get(Scan, scan_id) if scan_id else None,
            )
            folder = folders[resource_id] = str(ctx.archive_path(owner.resource_files_dir(label)))
        out[(where, path)] = (int(size), str(sha256), f"{folder}/{path}")
    return out


def _staged_files(
    ctx: Context, db: DBSession, source: Session, staged_id: int
) -> dict[Key, tuple[int, str, str]]:
    """The staged copies of ``source``'s instances, under the keys of their sources."""
    origin = {
        sop: (f"scan {label}:{resource}", path)
        for sop, label, resource, path in db.execute(
            select(Instance.SOPInstanceUID, Scan.label, Resource.label, File.path)
            .join(File, Instance.file_id == File.id)
            .join(Resource, File.resource_id == Resource.id)
            .join(Scan, Instance.scan_id == Scan.id)
            .where(Scan.session_id == source.id)
        )
    }
    out: dict[Key, tuple[int, str, str]] = {}
    for inst in db.scalars(select(Instance).where(Instance.staged_id == staged_id)):
        key = origin.get(inst.SOPInstanceUID, ("not from the source", inst.SOPInstanceUID))
        spooled = ctx.store.data_dir / str(inst.spool_path)
        out[key] = (inst.size, str(inst.sha256), str(spooled))
    return out


def compare_item(ctx: Context, item: TransferItem, *, read_bytes: bool) -> Compared:
    """Compare what ``item`` copied (into the archive, or staged in the prearchive)."""
    copied = list(item.verified.get("copied", []))
    out = Compared(by=["catalog", "bytes"] if read_bytes else ["catalog"])
    out.scans = len({w.split(":")[0] for w in copied if w.startswith("scan ")})
    staged = item.verified.get("staged")
    with ctx.db.read() as db:
        source = db.get(Session, item.source_session_id) if item.source_session_id else None
        dest = db.get(Session, item.dest_session_id) if item.dest_session_id else None
        if source is None or (dest is None and staged is None):
            out.wrong("the source or the destination session is gone")
            return out
        before = files_of(ctx, db, source, copied)
        if staged is not None:
            after = _staged_files(ctx, db, source, int(staged))
        else:
            assert dest is not None
            after = files_of(ctx, db, dest, copied)
    compare_files(before, after, out, read_bytes=read_bytes)
    return out


def compare_files(
    before: Mapping[Key, tuple[int, str, str | Path]],
    after: Mapping[Key, tuple[int, str, str | Path]],
    out: Compared,
    *,
    read_bytes: bool,
) -> None:
    """Compare the source's files with the copies' (each by its key): both sides' names,
    sizes and checksums from the catalog, and the copies' bytes when asked."""
    for key in sorted(before.keys() - after.keys()):
        out.wrong(f"{key[0]}/{key[1]}: missing on the destination")
    for key in sorted(after.keys() - before.keys()):
        out.wrong(f"{key[0]}/{key[1]}: on the destination only")
    for key in sorted(before.keys() & after.keys()):
        if before[key][:2] != after[key][:2]:
            out.wrong(f"{key[0]}/{key[1]}: size or checksum differs in the catalog")
    out.files = len(after)
    out.bytes = sum(size for size, _sha, _path in after.values())
    if read_bytes:
        read_back(before, after, out)


def _sha256(path: str | Path) -> tuple[int, str] | None:
    try:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256")
            return f.tell(), digest.hexdigest()
    except OSError:
        return None


def read_back(
    before: Mapping[Key, tuple[int, str, str | Path]],
    after: Mapping[Key, tuple[int, str, str | Path]],
    out: Compared,
) -> None:
    keys = sorted(after)
    # A few hundred files to a task: a future per file cost the waiting thread more
    # than the hashing.
    chunks = [keys[i : i + 256] for i in range(0, len(keys), 256)]
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        found = pool.map(lambda chunk: [_sha256(after[k][2]) for k in chunk], chunks)
        for chunk, hashed in zip(chunks, found, strict=True):
            for key, got in zip(chunk, hashed, strict=True):
                want = before.get(key, after[key])[:2]
                if got is None:
                    out.wrong(f"{key[0]}/{key[1]}: cannot be read on the destination")
                elif got != want:
                    out.wrong(f"{key[0]}/{key[1]}: the bytes differ from the source's checksum")
