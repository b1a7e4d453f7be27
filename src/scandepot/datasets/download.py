"""Downloads of a released version: exactly the files of its manifest, named by their
path in the release (labels as at release), in a zip, tar or tar.gz whose first member
is ``manifest.json`` (then ``manifest.sha256``, for ``sha256sum -c``), as project
downloads are (:mod:`scandepot.export.archives`, :mod:`scandepot.export.manifest`).

For the dataset's owners and the users whose access to that very version was approved,
while it stays published (:mod:`scandepot.access.datasets`): a revoked approval, or a
withdrawn version, is refused before the first byte.

The bytes come from the archive's file each manifest row points to (``file_id``), and
every file is checked against the manifest's size and SHA-256 before any byte of it is
sent: a file read whole (most are small) is hashed in memory and sent from there; a
larger one is hashed, then sent, and refused if it changed between the two. A file that
does not match stops the download (:class:`SourceChanged`, before the archive's closing
records, so no reader takes it for whole), naming the file: other bytes are never sent
under a release's name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import zlib
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.datasets import DatasetAction, load_version
from scandepot.catalog.datasets import Dataset, DatasetVersion, VersionState
from scandepot.context import Context
from scandepot.datasets import manifest_rows
from scandepot.db.base import utcnow
from scandepot.errors import Conflict
from scandepot.export import manifest
from scandepot.export.archives import (
    Format,
    Member,
    Opened,
    SourceChanged,
    Writer,
    archive_size,
    needs_crc,
    open_checked,
    packed,
    writer,
)
from scandepot.export.downloads import prefetched

log = logging.getLogger("scandepot.datasets")
READ = 1024 * 1024
WHOLE = 16 * 1024 * 1024  # files up to this size are read once, checked, sent from memory
MANIFEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class Entry:
    """A file to send: its member, and the manifest's SHA-256 it must have."""

    member: Member
    sha256: str


@dataclass(frozen=True, slots=True)
class DatasetDownload:
    """A download that passed every check: :meth:`stream` sends it (a
    :class:`scandepot.http.responses.FileBody`; never by the server's own file sending,
    since every file is checked on the way)."""

    format: Format
    filename: str
    head: list[Member]  # manifest.json, manifest.sha256
    entries: list[Entry]
    started_ns: int
    length: int | None  # the archive's size when known ahead (tar, zip)

    @property
    def sends_files(self) -> bool:
        return False

    def chunks(self) -> Iterator[bytes]:
        """The archive in chunks of about a megabyte."""
        return packed(self.format, self.pieces())

    def pieces(self) -> Iterator[bytes]:
        """The archive's pieces as made (the tar's, for a tar.gz), unbatched."""
        out = writer(Format.TAR if self.format is Format.TAR_GZ else self.format)
        crc = needs_crc(self.format)
        for member in self.head:
            yield out.head(member, None)
            assert member.data is not None
            yield member.data
            yield out.tail(member)
        try:
            for entry in self.entries:
                yield from _checked(out, entry, self.started_ns, crc=crc)
        except SourceChanged as exc:
            log.warning("download %s aborted: %s", self.filename, exc)
            raise
        yield out.end()

    async def stream(self) -> AsyncIterator[bytes]:
        """:meth:`chunks`, the next made in a worker thread while this one is sent."""
        async for chunk in prefetched(_generator(self.chunks()), lambda g: next(g, None)):
            if chunk is None:
                return
            yield chunk

    async def parts(self) -> AsyncIterator[bytes | Opened]:
        async for chunk in self.stream():
            yield chunk


def _generator(chunks: Iterator[bytes]) -> Generator[bytes, None, None]:
    yield from chunks


def _mismatch(entry: Entry, what: str) -> SourceChanged:
    return SourceChanged(
        f"'{entry.member.name}' does not match the release's manifest ({what}); "
        "the download stops here"
    )


def _read_all(fd: int, size: int) -> bytes:
    """``size`` bytes from the start, and one more to notice a file that grew."""
    pieces, done = [], 0
    while done <= size:
        chunk = os.pread(fd, min(READ, size + 1 - done), done)
        if not chunk:
            break
        pieces.append(chunk)
        done += len(chunk)
    return b"".join(pieces)


def _digest(fd: int, size: int, *, crc: bool) -> tuple[str, int | None, int]:
    hasher, check, done = hashlib.sha256(), 0, 0
    while True:
        chunk = os.pread(fd, READ, done)
        if not chunk:
            break
        hasher.update(chunk)
        if crc:
            check = zlib.crc32(chunk, check)
        done += len(chunk)
    return hasher.hexdigest(), (check if crc else None), done


def _checked(out: Writer, entry: Entry, started_ns: int, *, crc: bool) -> Iterator[bytes]:
    """The member's header and bytes, once its file is known to be the manifest's."""
    member = entry.member
    opened = open_checked(member, started_ns)  # gone, resized or changed since: refused
    with opened.file as fh:
        fd = fh.fileno()
        if member.size <= WHOLE:
            data = _read_all(fd, member.size)
            if len(data) != member.size:
                raise _mismatch(entry, f"{len(data)} bytes, not {member.size}")
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise _mismatch(entry, "SHA-256")
            yield out.head(member, zlib.crc32(data) if crc else None)
            yield data
            yield out.tail(member)
            return
        before = os.fstat(fd).st_ctime_ns
        sha256, check, size = _digest(fd, member.size, crc=crc)
        if size != member.size:
            raise _mismatch(entry, f"{size} bytes, not {member.size}")
        if sha256 != entry.sha256:
            raise _mismatch(entry, "SHA-256")
        yield out.head(member, check)
        done = 0
        while done < member.size:
            chunk = os.pread(fd, min(READ, member.size - done), done)
            if not chunk:
                break
            done += len(chunk)
            if done >= member.size and os.fstat(fd).st_ctime_ns != before:
                raise _mismatch(entry, "it changed while it was sent")
            yield chunk
        if done != member.size:
            raise _mismatch(entry, "it shrank while it was sent")
        yield out.tail(member)


def _document(dataset: Dataset, version: DatasetVersion, files: list[dict[str, Any]]) -> bytes:
    return manifest.to_bytes(
        {
            "manifest_version": MANIFEST_VERSION,
            "dataset": dataset.stable_id,
            "name": dataset.name,
            "version": version.number,
            "title": (version.meta or {}).get("title"),
            "address": f"/api/v1/datasets/{dataset.stable_id}/versions/{version.number}",
            "released_at": version.released_at.isoformat() if version.released_at else None,
            "manifest_sha256": version.manifest_sha256,
            "created": utcnow().isoformat().replace("+00:00", "Z"),
            "file_count": len(files),
            "total_size": sum(f["size"] for f in files),
            "files": files,
        }
    )


def prepare(ctx: Context, actor: Actor, ref: str, number: int, fmt: Format) -> DatasetDownload:
    """Check and list a download of version ``number`` of dataset ``ref``; everything
    that can refuse it happens here, before the first byte."""
    started_ns = time.time_ns()
    with ctx.db.read() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.DOWNLOAD)
        if version.state == VersionState.WITHDRAWN:
            raise Conflict(
                f"Version {number} of '{dataset.stable_id}' was withdrawn: its files are no "
                "longer held, and it is not downloaded.",
                field="version",
            )
        db.expunge_all()
    entries: list[Entry] = []
    files: list[dict[str, Any]] = []
    gone = 0
    now = utcnow()
    for page in manifest_rows.pages(ctx, version.id, limit=5000):
        for row in page:
            files.append({"name": row.path, "size": row.size, "sha256": row.sha256, "md5": row.md5})
            if row.disk is None:
                gone += 1
                continue
            member = Member(row.path, row.size, now, path=str(row.disk), crc32=row.crc32)
            entries.append(Entry(member, row.sha256))
    if gone:
        raise Conflict(
            f"{gone} file(s) of version {number} of '{dataset.stable_id}' are no longer in "
            "the archive; the release cannot be sent whole.",
            field="version",
        )
    listed = _document(dataset, version, files)
    sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in files).encode()
    head = [
        Member(manifest.MANIFEST_NAME, len(listed), now, data=listed),
        Member(manifest.SHA256SUMS_NAME, len(sums), now, data=sums),
    ]
    total = sum(f["size"] for f in files)
    audit.record_now(
        ctx,
        actor,
        AuditAction.DATASET_DOWNLOADED,
        target=f"dataset {dataset.stable_id} v{version.number}",
        format=fmt.value,
        files=len(files),
        bytes=total,
    )
    length = archive_size(fmt, [*head, *(e.member for e in entries)])
    filename = f"{dataset.stable_id}-v{version.number}.{fmt.value}"
    return DatasetDownload(fmt, filename, head, entries, started_ns, length)
