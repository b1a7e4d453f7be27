"""Downloads: resolve what was asked for, check access, audit, then stream the archive.

Everything that can refuse a download (access, names that do not exist, an empty
selection, a layout that collides) happens in :func:`prepare`, before the first byte, so a
refusal is an ordinary error response. What can only go wrong later (a file deleted,
moved or replaced while the archive is being sent) aborts the stream; see
:mod:`scandepot.export.archives`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.archive.resources import OwnerRef
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.export import manifest
from scandepot.export.archives import Format, Member, SourceChanged, stream
from scandepot.export.layouts import Layout
from scandepot.export.selection import Resolved, Selection, resolve_resource, resolve_selection

log = logging.getLogger("scandepot.export")


@dataclass(frozen=True, slots=True)
class ProjectTarget:
    """A selection in a project (also what a session or scan download asks for)."""

    project: str
    selection: Selection

    def stem(self) -> str:
        parts = [self.project]
        sel = self.selection
        if len(sel.sessions) == 1:
            parts.append(sel.sessions[0])
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
    """A download that passed every check; :meth:`chunks` sends it."""

    resolved: Resolved
    format: Format
    filename: str
    members: list[Member]

    def chunks(self) -> Generator[bytes, None, None]:
        try:
            yield from stream(self.format, self.members)
        except SourceChanged as exc:
            log.warning(
                "download %s of project %s aborted: %s", self.filename, self.resolved.project, exc
            )
            raise

    async def stream(self) -> AsyncIterator[bytes]:
        """:meth:`chunks` with the next chunk made in a worker thread while this one is
        sent: reading and hashing overlap with the socket writes. At most two chunks are
        held."""
        loop = asyncio.get_running_loop()
        chunks = self.chunks()
        pending = loop.run_in_executor(None, next, chunks, None)
        try:
            while (chunk := await pending) is not None:
                pending = loop.run_in_executor(None, next, chunks, None)
                yield chunk
        finally:
            # The client left or the stream failed: let the worker finish its chunk, then
            # close the generator (and the file it has open) in a thread of its own.
            with contextlib.suppress(BaseException):
                await pending
            await loop.run_in_executor(None, chunks.close)


def _resolve(ctx: Context, actor: Actor, target: Target, layout: Layout) -> Resolved:
    with ctx.db.read() as db:
        if isinstance(target, ResourceTarget):
            return resolve_resource(db, actor, target.ref, target.resource, layout)
        return resolve_selection(db, actor, target.project, target.selection, layout)


def get_manifest(ctx: Context, actor: Actor, target: Target, layout: Layout) -> dict[str, Any]:
    return manifest.build(_resolve(ctx, actor, target, layout))


def prepare(ctx: Context, actor: Actor, target: Target, layout: Layout, fmt: Format) -> Download:
    resolved = _resolve(ctx, actor, target, layout)
    now = utcnow()
    listed = manifest.to_bytes(manifest.build(resolved))
    sums = manifest.sha256sums(resolved)
    members = [
        Member(manifest.MANIFEST_NAME, len(listed), now, data=listed),
        Member(manifest.SHA256SUMS_NAME, len(sums), now, data=sums),
        *(
            Member(e.name, e.size, e.modified, path=ctx.archive_path(e.source), sha256=e.sha256)
            for e in resolved.entries
        ),
    ]
    filename = f"{target.stem()}.{fmt.value}"
    audit.record_now(
        ctx,
        actor,
        "download.archive",
        project=resolved.project,
        target=filename,
        format=fmt.value,
        layout=layout.value,
        selection=resolved.selection,
        files=len(resolved.entries),
        bytes=resolved.total_size,
    )
    return Download(resolved, fmt, filename, members)
