"""Streaming archive writers: zip (ZIP64 when needed), tar (POSIX pax) and tar.gz.

Each writer is a generator of byte chunks of about :data:`BATCH` bytes; it holds one
chunk and one read buffer at a time, whatever the size of the archive, and never writes
a temporary copy.

Every file is checked while it is sent: it must still exist and have the size and
SHA-256 the catalog gave when the download started. If not (deleted, moved, replaced
meanwhile) the writer raises :class:`SourceChanged` *before* the archive's closing
records (the zip central directory, the tar end-of-archive blocks, the gzip trailer), so
the response ends without them and no reader can take the archive for whole.

zip: entries are stored (imaging data hardly compresses, and stored is fast), written by
the standard library's :mod:`zipfile` to a non-seekable stream, so each entry has a data
descriptor (APPNOTE 4.3.9) after its bytes; ZIP64 records are used per entry and for the
central directory when sizes or offsets need them (APPNOTE 4.3.14).
tar: headers from :mod:`tarfile` in the pax format (POSIX.1-2001), which holds names of
any length and sizes over 8 GiB.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

READ = 1024 * 1024
BATCH = 1024 * 1024
GZIP_LEVEL = 6  # gzip's own default: tar.gz is for smaller, not faster, downloads
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


class Format(enum.StrEnum):
    ZIP = "zip"
    TAR = "tar"
    TAR_GZ = "tar.gz"

    @property
    def media_type(self) -> str:
        return {
            Format.ZIP: "application/zip",
            Format.TAR: "application/x-tar",
            Format.TAR_GZ: "application/gzip",
        }[self]


class SourceChanged(Exception):
    """A file to send is gone or differs from the catalog: the archive must not end."""


@dataclass(frozen=True, slots=True)
class Member:
    """One archive member: bytes in memory (the manifest) or a file checked as it is read."""

    name: str
    size: int
    modified: dt.datetime
    path: Path | None = None
    sha256: str | None = None
    data: bytes | None = None


def read_checked(member: Member) -> Iterator[bytes]:
    """The member's bytes; raises :class:`SourceChanged` when the file is missing or its
    size or SHA-256 is not the one expected. The last chunk is only given after the check
    passed, so a changed file never reaches the client whole."""
    if member.data is not None:
        yield member.data
        return
    assert member.path is not None and member.sha256 is not None
    try:
        fh = open(member.path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise SourceChanged(f"'{member.name}' cannot be read: {exc.strerror}") from None
    with fh:
        digest = hashlib.sha256()
        sent = 0
        pending: bytes | None = None
        while True:
            # One byte more than the rest, to notice a file that grew.
            chunk = fh.read(min(READ, member.size - sent + 1))
            if not chunk:
                break
            sent += len(chunk)
            if sent > member.size:
                raise SourceChanged(f"'{member.name}' is larger than catalogued")
            digest.update(chunk)
            if pending is not None:
                yield pending
            pending = chunk
        if sent != member.size or digest.hexdigest() != member.sha256:
            raise SourceChanged(f"'{member.name}' differs from its catalogued size or SHA-256")
        if pending is not None:
            yield pending


def _batched(pieces: Iterable[bytes]) -> Iterator[bytes]:
    buffer: list[bytes] = []
    size = 0
    for piece in pieces:
        if not piece:
            continue
        buffer.append(piece)
        size += len(piece)
        if size >= BATCH:
            yield buffer[0] if len(buffer) == 1 else b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def _tar_pieces(members: Iterable[Member]) -> Iterator[bytes]:
    written = 0
    for member in members:
        info = tarfile.TarInfo(member.name)
        info.size = member.size
        info.mtime = int(member.modified.timestamp())
        info.mode = 0o644
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        yield header
        yield from read_checked(member)
        padding = -member.size % _BLOCK
        yield b"\0" * padding
        written += len(header) + member.size + padding
    # End of archive: two zero blocks, then zeros up to a whole record, as tar(1) writes.
    end = 2 * _BLOCK
    end += -(written + end) % _RECORD
    yield b"\0" * end


def _gzip(pieces: Iterable[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
    for piece in pieces:
        yield compressor.compress(piece)
    yield compressor.flush()


class _Sink(io.RawIOBase):
    """A write-only, non-seekable stream that zipfile writes into and we drain."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        parts, self._parts = self._parts, []
        return parts[0] if len(parts) == 1 else b"".join(parts)


def _dos_time(moment: dt.datetime) -> tuple[int, int, int, int, int, int]:
    # The zip date field starts in 1980; the catalog keeps UTC.
    if moment.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _zip_pieces(members: Iterable[Member]) -> Iterator[bytes]:
    sink = _Sink()
    # No `with`: leaving a with-block on an error would write the central directory and
    # make a cut archive look whole. Only a complete run closes the file.
    archive = zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
    try:
        for member in members:
            info = zipfile.ZipInfo(member.name, date_time=_dos_time(member.modified))
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = member.size
            info.external_attr = 0o644 << 16
            entry = archive.open(info, "w")
            for chunk in read_checked(member):
                entry.write(chunk)
                yield sink.take()
            entry.close()
            yield sink.take()
    except BaseException:
        # Abandon the archive: with no file object, ZipFile.close() (which its __del__
        # calls) writes nothing, so no end records can follow a failure.
        archive.fp = None
        raise
    archive.close()
    yield sink.take()


def stream(fmt: Format, members: Iterable[Member]) -> Iterator[bytes]:
    """The archive in chunks of about :data:`BATCH` bytes."""
    if fmt is Format.ZIP:
        return _batched(_zip_pieces(members))
    if fmt is Format.TAR:
        return _batched(_tar_pieces(members))
    return _batched(_gzip(_tar_pieces(members)))
