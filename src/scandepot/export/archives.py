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

zip: entries are stored (imaging data hardly compresses, and stored is fast), each local
header holding the sizes and the CRC-32 before the bytes, no data descriptors, ZIP64
where needed (:mod:`scandepot.export.zip_format`). The CRC-32 comes from the catalog
(``File.crc32``, computed with the other checksums when the file was stored); a file
without one has it computed as it is opened, before its header is sent. So a zip, like a
tar, is known in length before the first byte and its files can be sent by a server
that sends files itself.
tar: the pax format (POSIX.1-2001), which holds names of any length and sizes over 8 GiB;
headers that fit one ustar block are packed here as :mod:`tarfile` packs them, the others
come from tarfile. Its length is known before the first byte
(:func:`tar_size`), so a tar is sent with ``Content-Length``: a client that receives less
knows it.
tar.gz: the tar through ISA-L's deflate (python-isal), a plain gzip stream (RFC 1952)
that gzip, tar and zlib read, made about ten times as fast as zlib's at the same size on
images; see docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import os
import struct
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from isal import isal_zlib

from scandepot.export.zip_format import LIMITS, Limits, ZipWriter, zip_size

READ = 1024 * 1024
READ_AHEAD = 8 * 1024 * 1024  # what is asked of the kernel ahead of sending a file
BATCH = 1024 * 1024
# ISA-L's own default: on images, the size zlib's level 6 gives (tar.gz is for smaller
# downloads), at ten times its rate; levels 0 to 3.
GZIP_LEVEL = 2
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
    crc32: int | None = None  # as catalogued; None: computed when a zip needs it


@dataclass(frozen=True, slots=True)
class Opened:
    """A member's file, opened and checked; for a server that sends files itself."""

    name: str
    file: io.FileIO
    size: int  # the bytes to send, from offset
    crc32: int | None = None
    offset: int = 0  # where they begin in the file (a range of an archive: datalad/tarball.py)

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
    return Opened(member.name, fh, member.size, member.crc32)


def with_crc(opened: Opened) -> Opened:
    """``opened`` with its CRC-32, read from the file (without moving its offset) if the
    catalog had none; closes the file and raises :class:`SourceChanged` if it ends
    early."""
    if opened.crc32 is not None:
        return opened
    crc, done = 0, 0
    try:
        while done < opened.size:
            chunk = os.pread(opened.file.fileno(), min(READ, opened.size - done), done)
            if not chunk:
                raise SourceChanged(f"'{opened.name}' is smaller than catalogued")
            crc = zlib.crc32(chunk, crc)
            done += len(chunk)
    except BaseException:
        opened.close()
        raise
    return replace(opened, crc32=crc)


def read_opened(opened: Opened) -> Iterator[bytes]:
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


class Writer(Protocol):
    """The bytes around members, in order: :meth:`head` before a member's bytes,
    :meth:`tail` after them, :meth:`end` after the last member."""

    def head(self, member: Member, crc32: int | None) -> bytes: ...

    def tail(self, member: Member) -> bytes: ...

    def end(self) -> bytes: ...


class _TarWriter:
    def __init__(self) -> None:
        self.written = 0

    def head(self, member: Member, crc32: int | None) -> bytes:
        header = _tar_header(member)
        self.written += len(header) + member.size + (-member.size % _BLOCK)
        return header

    def tail(self, member: Member) -> bytes:
        return b"\0" * (-member.size % _BLOCK)

    def end(self) -> bytes:
        return b"\0" * _tar_end(self.written)


class _ZipWriter:
    def __init__(self, limits: Limits) -> None:
        self.zip = ZipWriter(limits=limits)

    def head(self, member: Member, crc32: int | None) -> bytes:
        if crc32 is None:  # a member in memory; a file's comes from with_crc()
            assert member.data is not None
            crc32 = zlib.crc32(member.data)
        return self.zip.head(member.name, member.size, member.modified, crc32)

    def tail(self, member: Member) -> bytes:
        return b""

    def end(self) -> bytes:
        return self.zip.end()


def writer(fmt: Format, *, zip_limits: Limits = LIMITS) -> Writer:
    """The writer of the format (tar.gz: the tar, compressed by :func:`stream`)."""
    return _ZipWriter(zip_limits) if fmt is Format.ZIP else _TarWriter()


def needs_crc(fmt: Format) -> bool:
    """Whether the format's headers hold each file's CRC-32 (see :func:`with_crc`)."""
    return fmt is Format.ZIP


def archive_size(
    fmt: Format, members: Iterable[Member], *, zip_limits: Limits = LIMITS
) -> int | None:
    """The exact length of the archive :func:`stream` makes, when known before it is
    made: tar and zip; not tar.gz."""
    if fmt is Format.TAR:
        return tar_size(members)
    if fmt is Format.ZIP:
        return zip_size(((m.name, m.size) for m in members), limits=zip_limits)
    return None


def _pieces(
    fmt: Format, members: Iterable[Member], started_ns: int, zip_limits: Limits
) -> Iterator[bytes]:
    out = writer(fmt, zip_limits=zip_limits)
    for member in members:
        if member.data is not None:
            yield out.head(member, member.crc32)
            yield member.data
        else:
            opened = open_checked(member, started_ns)
            if needs_crc(fmt):
                opened = with_crc(opened)
            yield out.head(member, opened.crc32)
            yield from read_opened(opened)
        yield out.tail(member)
    yield out.end()


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


def gzip_compressor() -> Compressor:
    """A deflate stream in gzip framing (wbits 31, RFC 1952)."""
    compressor: Compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)
    return compressor


def _gzip(pieces: Iterable[bytes]) -> Iterator[bytes]:
    compressor = gzip_compressor()
    for piece in pieces:
        yield compressor.compress(piece)
    yield compressor.flush()


def stream(
    fmt: Format, members: Iterable[Member], started_ns: int, *, zip_limits: Limits = LIMITS
) -> Iterator[bytes]:
    """The archive in chunks of about :data:`BATCH` bytes; see :func:`open_checked` for
    ``started_ns``. A file that changed raises :class:`SourceChanged` before the closing
    records (the zip central directory, the tar end blocks, the gzip trailer)."""
    if fmt is Format.TAR_GZ:
        return _batched(_gzip(_pieces(Format.TAR, members, started_ns, zip_limits)))
    return _batched(_pieces(fmt, members, started_ns, zip_limits))


def packed(fmt: Format, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Pieces of an archive made by the caller with :func:`writer` (of the tar, for a
    tar.gz), in chunks of about :data:`BATCH` bytes, gzipped for a tar.gz."""
    return _batched(_gzip(pieces) if fmt is Format.TAR_GZ else pieces)
