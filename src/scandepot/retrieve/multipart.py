"""Multipart/related bodies (RFC 2387, PS3.18 §8.6.1.2) of instances, frames or bulk data.

A body is a list of parts, each either a stored file (sent as it is, from the page cache
to the socket where the server can: :class:`scandepot.http.responses.FileBodyResponse`)
or bytes made on the way (a transcoded instance, a frame). Parts are made one batch ahead
in a worker thread while the batch before is sent: the server holds at most a batch
(:data:`BATCH_FILES` files, about :data:`BATCH_BYTES` bytes) whatever the number of
instances. A body of stored files only has its length known before the first byte.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

from scandepot.export.archives import Member, Opened, open_checked, read_opened
from scandepot.export.downloads import prefetched

BATCH_FILES = 64
BATCH_BYTES = 32 * 1024 * 1024
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Part:
    """One part: its ``Content-Type``, and a stored file (``path``, ``size``), bytes
    (``data``) or bytes made when the part is sent (``make``)."""

    content_type: str
    path: Path | None = None
    size: int | None = None
    make: Callable[[], bytes] | None = None
    data: bytes | None = None

    @property
    def known_size(self) -> int | None:
        if self.data is not None:
            return len(self.data)
        return self.size if self.path is not None else None


Piece = bytes | Opened


class Multipart:
    """The body; :attr:`media_type` is its ``Content-Type``."""

    def __init__(self, parts: list[Part], part_type: str, *, started_ns: int | None = None) -> None:
        self.boundary = uuid.uuid4().hex
        self.part_list = parts
        self.media_type = f'multipart/related; type="{part_type}"; boundary={self.boundary}'
        # Files changed after this (taken before the catalog was read) are not sent.
        self.started_ns = time.time_ns() if started_ns is None else started_ns
        self.length = self._length()

    @property
    def sends_files(self) -> bool:
        return True

    def _head(self, part: Part, size: int, first: bool) -> bytes:
        lead = "" if first else "\r\n"
        return (
            f"{lead}--{self.boundary}\r\nContent-Type: {part.content_type}\r\n"
            f"Content-Length: {size}\r\n\r\n"
        ).encode("ascii")

    def _end(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode("ascii")

    def _length(self) -> int | None:
        total = len(self._end())
        for index, part in enumerate(self.part_list):
            size = part.known_size
            if size is None:
                return None
            total += len(self._head(part, size, index == 0)) + size
        return total

    def pieces(self) -> Generator[Piece, None, None]:
        """The body as bytes and opened files (each checked against the catalog)."""
        for index, part in enumerate(self.part_list):
            if part.path is not None and part.size is not None:
                member = Member(part.path.name, part.size, _EPOCH, path=str(part.path))
                opened = open_checked(member, self.started_ns)
                yield self._head(part, part.size, index == 0)
                yield opened
            else:
                data = part.data
                if data is None:
                    assert part.make is not None
                    data = part.make()
                yield self._head(part, len(data), index == 0) + data
        yield self._end()

    def chunks(self) -> Generator[bytes, None, None]:
        for piece in self.pieces():
            if isinstance(piece, Opened):
                yield from read_opened(piece)
            else:
                yield piece

    async def stream(self) -> AsyncIterator[bytes]:
        async for chunk in prefetched(self.chunks(), lambda gen: next(gen, None)):
            if chunk is None:
                return
            yield chunk

    async def parts(self) -> AsyncIterator[Piece]:
        batches = prefetched(self.pieces(), _next_batch, discard=_close)
        batch: list[Piece] = []
        try:
            while True:
                _close(batch)
                batch = await anext(batches)
                if not batch:
                    return
                for piece in batch:
                    yield piece
        finally:
            _close(batch)
            await batches.aclose()


def _next_batch(pieces: Iterator[Piece]) -> list[Piece]:
    batch: list[Piece] = []
    size = files = 0
    for piece in pieces:
        batch.append(piece)
        if isinstance(piece, Opened):
            files += 1
            size += piece.size
        else:
            size += len(piece)
        if size >= BATCH_BYTES or files >= BATCH_FILES:
            break
    return batch


def _close(batch: list[Piece]) -> None:
    for piece in batch:
        if isinstance(piece, Opened):
            piece.close()


def of_bytes(parts: list[tuple[str, bytes]], part_type: str) -> Multipart:
    """A body of parts already in memory (frames, bulk data)."""
    return Multipart([Part(kind, data=data) for kind, data in parts], part_type)


class Whole(Multipart):
    """One part alone, without multipart framing (WADO-URI's application/dicom)."""

    def __init__(self, part: Part, *, started_ns: int | None = None) -> None:
        super().__init__([part], part.content_type, started_ns=started_ns)
        self.media_type = part.content_type

    def _head(self, part: Part, size: int, first: bool) -> bytes:
        return b""

    def _end(self) -> bytes:
        return b""
