"""A visit's tarball, whole or a byte range of it, made by the download code's tar writer
(:mod:`scandepot.export.archives`) from the visit's files as stored.

Its length is known before the first byte (:func:`scandepot.export.archives.tar_size`),
and so is where each member's header and bytes begin, so a range opens only the files it
overlaps. A server that sends files itself (``scandepot serve``) is handed each file's
slice to send from the page cache; any other gets the bytes read here.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

from scandepot.datalad.visits import Visit
from scandepot.export.archives import (
    BATCH,
    READ,
    Format,
    Member,
    Opened,
    open_checked,
    tar_size,
    writer,
)

# A piece of the tar: bytes made here, or (member, offset, count) of a stored file.
Piece = bytes | tuple[Member, int, int]


def pieces(members: list[Member], start: int, stop: int) -> Iterator[Piece]:
    """The pieces of bytes ``start`` to ``stop`` (exclusive) of the tar of ``members``."""
    out = writer(Format.TAR)
    position = 0

    def cut(data: bytes) -> bytes:
        begin = max(start - position, 0)
        return data[begin : max(min(stop - position, len(data)), begin)]

    for member in members:
        if position >= stop:
            return
        header = out.head(member, None)
        if position + len(header) > start:
            yield cut(header)
        position += len(header)
        if position + member.size > start and position < stop:
            offset = max(start - position, 0)
            yield (member, offset, min(stop - position, member.size) - offset)
        position += member.size
        tail = out.tail(member)
        if position + len(tail) > start and position < stop:
            yield cut(tail)
        position += len(tail)
    end = out.end()
    if position < stop:
        yield cut(end)


def _read(member: Member, offset: int, count: int, started_ns: int) -> Iterator[bytes]:
    opened = open_checked(member, started_ns)
    with opened.file as fh:
        done = 0
        while done < count:
            chunk = os.pread(fh.fileno(), min(READ, count - done), offset + done)
            if not chunk:
                raise OSError(f"'{member.name}' is smaller than catalogued")
            done += len(chunk)
            yield chunk


@dataclass(frozen=True, slots=True)
class VisitTar:
    """Bytes ``start`` to ``stop`` of a visit's tarball (all of it by default); a body for
    :class:`scandepot.http.responses.FileBodyResponse`."""

    visit: Visit
    members: list[Member]
    total: int  # the whole tarball's length
    start: int
    stop: int
    started_ns: int  # files changed after this are refused (export.archives.open_checked)

    @property
    def length(self) -> int:
        return self.stop - self.start

    @property
    def sends_files(self) -> bool:
        return True

    @property
    def filename(self) -> str:
        return self.visit.tar_name

    def part(self, start: int, stop: int) -> VisitTar:
        """Bytes ``start`` to ``stop`` (exclusive) of the whole tarball."""
        return replace(self, start=start, stop=stop)

    def chunks(self) -> Iterator[bytes]:
        """The bytes, in chunks of about :data:`BATCH`."""
        buffer: list[bytes] = []
        size = 0
        for piece in pieces(self.members, self.start, self.stop):
            parts = [piece] if isinstance(piece, bytes) else _read(*piece, self.started_ns)
            for part in parts:
                buffer.append(part)
                size += len(part)
                if size >= BATCH:
                    yield b"".join(buffer)
                    buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)

    async def stream(self) -> AsyncIterator[bytes]:
        source = self.chunks()
        while (chunk := await asyncio.to_thread(next, source, None)) is not None:
            yield chunk

    async def parts(self) -> AsyncIterator[bytes | Opened]:
        for piece in pieces(self.members, self.start, self.stop):
            if isinstance(piece, bytes):
                yield piece
                continue
            member, offset, count = piece
            opened = await asyncio.to_thread(open_checked, member, self.started_ns)
            try:
                yield replace(opened, size=count, offset=offset)
            finally:
                opened.close()


def whole(visit: Visit, started_ns: int) -> VisitTar:
    """All of the visit's tarball; ``started_ns``: ``time.time_ns()`` taken before the
    catalog was read (files changed later are refused)."""
    members = visit.members()
    total = tar_size(members)
    return VisitTar(visit, members, total, 0, total, started_ns)


def md5(tar: VisitTar) -> str:
    """The MD5 of the bytes (the tarball's annex key, its metadata)."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in tar.chunks():
        digest.update(chunk)
    return digest.hexdigest()
