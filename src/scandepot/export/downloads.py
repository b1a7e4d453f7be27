"""Downloads: resolve what was asked for, check access, audit, then stream the archive.

Everything that can refuse a download (access, names that do not exist, an empty
selection, a layout that collides) happens in :func:`prepare`, before the first byte, so a
refusal is an ordinary error response. What can only go wrong later (a file deleted,
moved or replaced while the archive is being sent) aborts the stream; see
:mod:`scandepot.export.archives`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.archive.resources import OwnerRef
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.export import manifest
from scandepot.export.archives import (
    Format,
    Member,
    Opened,
    SourceChanged,
    archive_size,
    needs_crc,
    open_checked,
    stream,
    with_crc,
    writer,
)
from scandepot.export.layouts import Layout
from scandepot.export.manifest import FileRoutes
from scandepot.export.selection import Resolved, Selection, resolve_resource, resolve_selection
from scandepot.export.zip_format import LIMITS, Limits

log = logging.getLogger("scandepot.export")
T = TypeVar("T")
R = TypeVar("R")
# A batch of parts for a server that sends files itself: files opened (and read ahead by
# the kernel) while the batch before is sent; at most settings.download_files_ahead of
# them and this many bytes. Larger than a chunk of bytes, since it holds descriptors, not
# data; fewer handovers between threads.
BATCH_AHEAD = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ProjectTarget:
    """A selection in a project (also what a session or scan download asks for)."""

    project: str
    selection: Selection

    def stem(self) -> str:
        parts = [self.project]
        sel = self.selection
        if len(sel.session_labels) == 1:
            parts.append(sel.session_labels[0])
            if isinstance(sel.scans, tuple) and len(sel.scans) == 1:
                parts.append(sel.scans[0])
        return "-".join(parts)


@dataclass(frozen=True, slots=True)
class ResourceTarget:
    """One resource, at any level."""

    ref: OwnerRef
    resource: str

    def stem(self) -> str:
        ref = self.ref
        parts = [ref.project, ref.subject, ref.session, ref.scan, self.resource]
        return "-".join(p for p in parts if p is not None)


Target = ProjectTarget | ResourceTarget


@dataclass(frozen=True, slots=True)
class Download:
    """A download that passed every check; :meth:`stream` or :meth:`parts` sends it."""

    resolved: Resolved
    format: Format
    filename: str
    members: list[Member]
    started_ns: int  # before the catalog was read: files changed later are refused
    length: int | None  # the archive's size in bytes when known before it is made (tar, zip)
    zip_limits: Limits = LIMITS
    files_ahead: int = 64  # see next_batch
    # Chunks made otherwise than from the members as stored: a de-identified download
    # (scandepot.export.deid_download), whose length is not known ahead.
    made: Callable[[], Iterator[bytes]] | None = None

    @property
    def sends_files(self) -> bool:
        """Whether :meth:`parts` can send it (tar and zip; a tar.gz is compressed here)."""
        return self.length is not None

    def _logged(self, pieces: Iterator[T]) -> Generator[T, None, None]:
        try:
            yield from pieces
        except SourceChanged as exc:
            log.warning(
                "download %s of project %s aborted: %s", self.filename, self.resolved.project, exc
            )
            raise

    def chunks(self) -> Generator[bytes, None, None]:
        """The archive in chunks of about a megabyte."""
        if self.made is not None:
            return self._logged(self.made())
        pieces = stream(self.format, self.members, self.started_ns, zip_limits=self.zip_limits)
        return self._logged(pieces)

    async def stream(self) -> AsyncIterator[bytes]:
        """:meth:`chunks` with the next chunk made in a worker thread while this one is
        sent: reading overlaps with the socket writes. At most two chunks are held."""
        async for chunk in prefetched(self.chunks(), lambda gen: next(gen, None)):
            if chunk is None:
                return
            yield chunk

    async def parts(self) -> AsyncIterator[bytes | Opened]:
        """A tar or zip as bytes and opened files, for a server that sends files itself
        (:mod:`scandepot.http.server`). The headers are made here, in the event loop (made
        in a worker thread they would hold the GIL while the loop waits for it); the files
        are opened and checked (and a zip's CRC-32 computed where the catalog has none) in
        a worker thread a batch ahead of the one being sent, so the kernel reads ahead
        meanwhile. A batch's files are closed once the consumer is past it."""
        assert self.length is not None, "tar.gz is compressed in Python: use stream()"
        crc = needs_crc(self.format)
        started = self.started_ns
        files = (_opened(m, started, crc=crc) for m in self.members if m.data is None)
        take = functools.partial(next_batch, most=self.files_ahead)
        batches = prefetched(self._logged(files), take, discard=close_files)
        batch: list[Opened] = []
        taken = 0
        out = writer(self.format, zip_limits=self.zip_limits)
        pending = b""
        try:
            for member in self.members:
                if member.data is not None:
                    pending += out.head(member, member.crc32) + member.data + out.tail(member)
                    continue
                if taken == len(batch):
                    close_files(batch)
                    batch, taken = await anext(batches), 0
                opened = batch[taken]
                assert opened.name == member.name
                taken += 1
                yield pending + out.head(member, opened.crc32)
                yield opened
                pending = out.tail(member)
            yield pending + out.end()
        finally:
            close_files(batch)
            await batches.aclose()


def _opened(member: Member, started_ns: int, *, crc: bool) -> Opened:
    opened = open_checked(member, started_ns)
    return with_crc(opened) if crc else opened


def close_files(files: list[Opened]) -> None:
    for opened in files:
        opened.close()


def next_batch(files: Iterator[Opened], *, most: int) -> list[Opened]:
    batch: list[Opened] = []
    size = 0
    for opened in files:
        batch.append(opened)
        size += opened.size
        if size >= BATCH_AHEAD or len(batch) >= most:
            break
    return batch


async def prefetched(
    source: Generator[T, None, None],
    take: Callable[[Generator[T, None, None]], R],
    discard: Callable[[R], None] = lambda result: None,
) -> AsyncGenerator[R, None]:
    """``take(source)`` again and again, each in a worker thread while the caller handles
    the previous result; the caller stops at a result that means the end. When it stops,
    for any reason (the client gone and the response cancelled included), the result in
    the making is given to ``discard`` once ready and the source is closed: nothing here
    waits for that, since a cancelled task cannot wait."""
    loop = asyncio.get_running_loop()
    pending = loop.run_in_executor(None, take, source)
    try:
        while True:
            # Shielded: cancelled, this task stops waiting but the work goes on to its end,
            # and its result (open files) is not lost.
            result = await asyncio.shield(pending)
            pending = loop.run_in_executor(None, take, source)
            yield result
    finally:
        pending.add_done_callback(functools.partial(_finish, source, discard))


def _finish(
    source: Generator[T, None, None], discard: Callable[[R], None], done: asyncio.Future[R]
) -> None:
    if not done.cancelled() and done.exception() is None:
        discard(done.result())
    source.close()


def resolve(ctx: Context, actor: Actor, target: Target, layout: Layout) -> Resolved:
    """What ``target`` holds in ``layout``, after every check a download makes."""
    with ctx.db.read() as db:
        if isinstance(target, ResourceTarget):
            return resolve_resource(db, actor, target.ref, target.resource, layout)
        return resolve_selection(db, actor, target.project, target.selection, layout)


def get_manifest(
    ctx: Context, actor: Actor, target: Target, layout: Layout, *, routes: FileRoutes
) -> dict[str, Any]:
    return manifest.build(resolve(ctx, actor, target, layout), routes=routes)


def prepare(
    ctx: Context,
    actor: Actor,
    target: Target,
    layout: Layout,
    fmt: Format,
    *,
    routes: FileRoutes | None,
    zip_limits: Limits = LIMITS,
) -> Download:
    """Check and resolve a download; ``routes`` give the manifest each file's route
    (``None``: an archive of the files alone, without the manifests, as XNAT's zips are).
    ``zip_limits``: where a zip takes ZIP64 records (lowered, a small one has them)."""
    started_ns = time.time_ns()
    resolved = resolve(ctx, actor, target, layout)
    now = utcnow()
    members: list[Member] = []
    if routes is not None:
        listed = manifest.to_bytes(manifest.build(resolved, routes=routes))
        sums = manifest.sha256sums(resolved)
        members += [
            Member(manifest.MANIFEST_NAME, len(listed), now, data=listed),
            Member(manifest.SHA256SUMS_NAME, len(sums), now, data=sums),
        ]
    archive = ctx.store.archive
    members += [
        Member(e.name, e.size, e.modified, path=f"{archive}/{e.source}", crc32=e.crc32)
        for e in resolved.entries
    ]
    filename = f"{target.stem()}.{fmt.value}"
    audit.record_now(
        ctx,
        actor,
        AuditAction.DOWNLOAD_ARCHIVE,
        project=resolved.project,
        target=filename,
        format=fmt.value,
        layout=layout.value,
        selection=resolved.selection,
        files=len(resolved.entries),
        bytes=resolved.total_size,
    )
    length = archive_size(fmt, members, zip_limits=zip_limits)
    ahead = ctx.settings.download_files_ahead
    return Download(resolved, fmt, filename, members, started_ns, length, zip_limits, ahead)
