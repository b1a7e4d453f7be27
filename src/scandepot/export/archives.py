"""Streaming archive writers: zip (ZIP64 when needed), tar (POSIX pax) and tar.gz.

Each writer is a generator of byte chunks of about :data:`BATCH` bytes; it holds one
chunk and one read buffer at a time, whatever the size of the archive, and never writes
a temporary copy.

Every file is checked as it is sent: it must still exist, have the size the catalog gave,
and not have changed since the download began (its inode change time, which every write,
rename or replacement sets and nothing can set back). If it was deleted, moved, replaced
or resized meanwhile, the writer raises :class:`SourceChanged` *before* the archive's
closing records (the zip central directory, the tar end-of-archive blocks, the gzip
trailer), so the response ends without them and no reader can take the archive for
whole. The bytes themselves are not hashed again on the way out: that would halve the
rate on a small server, and the archive carries the catalog's SHA-256 of every file
(``manifest.sha256``, ``manifest.json``) for the client to check end to end, which also covers
the network; ``scandepot check`` verifies the files at rest.

zip: entries are stored (imaging data hardly compresses, and stored is fast), written by
the standard library's :mod:`zipfile` to a non-seekable stream, so each entry has a data
descriptor (APPNOTE 4.3.9) after its bytes; ZIP64 records are used per entry and for the
central directory when sizes or offsets need them (APPNOTE 4.3.14).
tar: the pax format (POSIX.1-2001), which holds names of any length and sizes over 8 GiB;
headers that fit one ustar block are packed here as :mod:`tarfile` packs them, the others
come from tarfile. Its length is known before the first byte
(:func:`tar_size`), so a tar is sent with ``Content-Length``: a client that receives less
knows it.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

READ = 1024 * 1024
READ_AHEAD = 8 * 1024 * 1024  # what is asked of the kernel ahead of sending a file
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
    path: str | None = None
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    """A member's file, opened and checked; for a server that sends files itself."""

    name: str
    file: io.FileIO
    size: int

    def close(self) -> None:
        self.file.close()


def open_checked(member: Member, started_ns: int) -> Opened:
    """Open the member's file; raises :class:`SourceChanged` when it is missing, is not the
    size catalogued, or changed after ``started_ns`` (``time.time_ns()`` taken before the
    catalog was read). Asks the kernel to read ahead the start of the file, which it does
    while earlier files are being sent."""
    assert member.path is not None
    try:
        fh = open(member.path, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise SourceChanged(f"'{member.name}' cannot be read: {exc.strerror}") from None
    try:
        status = os.fstat(fh.fileno())
        if status.st_ctime_ns > started_ns:
            raise SourceChanged(f"'{member.name}' changed after the download began")
        if status.st_size != member.size:
            raise SourceChanged(
                f"'{member.name}' is {status.st_size} bytes, not the {member.size} catalogued"
            )
        os.posix_fadvise(fh.fileno(), 0, min(member.size, READ_AHEAD), os.POSIX_FADV_WILLNEED)
    except BaseException:
        fh.close()
        raise
    return Opened(member.name, fh, member.size)


def _read(opened: Opened) -> Iterator[bytes]:
    """The file's bytes, exactly ``size`` of them. The last chunk is only given once the
    end was reached where expected, so a file cut short or grown meanwhile never reaches
    the client whole."""
    with opened.file as fh:
        sent = 0
        pending: bytes | None = None
        while True:
            # One byte more than the rest, to notice a file that grew.
            chunk = fh.read(min(READ, opened.size - sent + 1))
            if not chunk:
                break
            sent += len(chunk)
            if sent > opened.size:
                raise SourceChanged(f"'{opened.name}' is larger than catalogued")
            if pending is not None:
                yield pending
            pending = chunk
        if sent != opened.size:
            raise SourceChanged(f"'{opened.name}' is smaller than catalogued")
        if pending is not None:
            yield pending


def read_checked(member: Member, started_ns: int) -> Iterator[bytes]:
    """The member's bytes, its file checked as :func:`open_checked` and :func:`_read` do."""
    if member.data is not None:
        yield member.data
    else:
        yield from _read(open_checked(member, started_ns))


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


def _tar_info(member: Member) -> tarfile.TarInfo:
    info = tarfile.TarInfo(member.name)
    info.size = member.size
    info.mtime = int(member.modified.timestamp())
    info.mode = 0o644
    return info


_OCTAL_11 = 8**11  # the largest size or mtime a ustar header holds, plus one
# POSIX ustar header: name, mode, uid, gid, size, mtime, checksum, type, link name, magic
# and version, user and group names, device numbers, prefix; zero bytes to 512.
_USTAR = struct.Struct("100s8s8s8s12s12s8s1s100s8s32s32s8s8s155s12x")


def _plain(member: Member) -> bool:
    """Whether one ustar block holds the member's header: an ASCII name that fits the
    name field, a size and a time that fit theirs. Otherwise tarfile adds a pax extended
    header."""
    return (
        member.name.isascii()
        and len(member.name) <= tarfile.LENGTH_NAME
        and 0 <= member.size < _OCTAL_11
        and 0 <= member.modified.timestamp() < _OCTAL_11
    )


def _tar_header(member: Member) -> bytes:
    """The member's header. A plain member's one block is packed here, as tarfile packs it
    (a tenth of the time of ``TarInfo.tobuf``, which shows on archives of many small
    files); any other goes through tarfile's pax format."""
    if not _plain(member):
        return _tar_info(member).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    mtime = int(member.modified.timestamp())
    block = bytearray(
        _USTAR.pack(
            member.name.encode("ascii"),
            b"0000644\0",  # mode rw-r--r--
            b"0000000\0",  # uid
            b"0000000\0",  # gid
            b"%011o\0" % member.size,
            b"%011o\0" % mtime,
            b" " * 8,  # the checksum counts its own field as spaces
            tarfile.REGTYPE,
            b"",  # link name
            tarfile.POSIX_MAGIC,  # "ustar" NUL "00"
            b"",  # user name
            b"",  # group name
            b"",  # device major, minor: empty for a regular file
            b"",
            b"",  # prefix
        )
    )
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _tar_header_size(member: Member) -> int:
    return _BLOCK if _plain(member) else len(_tar_header(member))


def _tar_end(written: int) -> int:
    # Two zero blocks, then zeros up to a whole record, as tar(1) writes.
    return 2 * _BLOCK + (-(written + 2 * _BLOCK) % _RECORD)


def tar_size(members: Iterable[Member]) -> int:
    """The exact length of the tar :func:`stream` makes of these members."""
    written = sum(_tar_header_size(m) + m.size + (-m.size % _BLOCK) for m in members)
    return written + _tar_end(written)


def tar_layout(members: Iterable[Member]) -> Iterator[bytes | Member]:
    """The tar as bytes (headers, padding, members held in memory) and, in their places,
    the members whose files are to be sent; bytes between two files come as one piece.
    No file is opened here: a server that sends files itself opens them ahead."""
    written = 0
    pending = b""
    for member in members:
        header = _tar_header(member)
        padding = b"\0" * (-member.size % _BLOCK)
        if member.data is not None:
            pending += header + member.data + padding
        else:
            yield pending + header
            yield member
            pending = padding
        written += len(header) + member.size + len(padding)
    yield pending + b"\0" * _tar_end(written)


def _tar_pieces(members: Iterable[Member], started_ns: int) -> Iterator[bytes]:
    for part in tar_layout(members):
        if isinstance(part, Member):
            yield from read_checked(part, started_ns)
        else:
            yield part


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


def _zip_pieces(members: Iterable[Member], started_ns: int) -> Iterator[bytes]:
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
            for chunk in read_checked(member, started_ns):
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


def stream(fmt: Format, members: Iterable[Member], started_ns: int) -> Iterator[bytes]:
    """The archive in chunks of about :data:`BATCH` bytes; see :func:`read_checked` for
    ``started_ns``."""
    if fmt is Format.ZIP:
        return _batched(_zip_pieces(members, started_ns))
    if fmt is Format.TAR:
        return _batched(_tar_pieces(members, started_ns))
    return _batched(_gzip(_tar_pieces(members, started_ns)))
