"""A download saved as a list (XNAT's catalog XML) instead of an archive, to be fetched
later, file by file, by ``scandepot download --list``.

The list is made from the same selection, checked the same way, as the archive and the
manifest (:func:`scandepot.export.downloads.resolve`): the same files, under the same
names. Each entry says where its file is served alone (``routes``, with the server's
address in front: a list outlives the session that saved it) and what the file must be
(size, SHA-256, MD5). The document's form is :mod:`scandepot.export.list_format`.
Like a manifest, saving a list sends no file, so it is not an archive download in the
audit log; each file fetched later is recorded as it is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from scandepot.access.actors import Actor
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Invalid
from scandepot.export import downloads, list_format
from scandepot.export.downloads import Target
from scandepot.export.layouts import Layout
from scandepot.export.list_format import MAX_ENTRIES, DownloadList, ListEntry
from scandepot.export.manifest import FileRoutes

MEDIA_TYPE = "application/xml"


@dataclass(frozen=True, slots=True)
class SavedList:
    filename: str
    body: bytes
    files: int


def download_list(
    ctx: Context,
    actor: Actor,
    target: Target,
    layout: Layout,
    *,
    routes: FileRoutes,
    server: str,
) -> SavedList:
    """The list of what ``target`` holds, laid out in ``layout``; ``server`` is the
    address the routes are reached at (``https://archive.example.org``)."""
    resolved = downloads.resolve(ctx, actor, target, layout)
    if len(resolved.entries) > MAX_ENTRIES:
        raise Invalid(
            f"The selection has {len(resolved.entries)} files; a list holds at most "
            f"{MAX_ENTRIES}. Save several lists, each of fewer sessions.",
            field="selection",
        )
    now = utcnow()
    list_id = f"scandepot-list-{target.stem()}-{now:%Y%m%d}"
    base = server.rstrip("/")
    project = resolved.project
    entries = [
        ListEntry(base + routes.url(project, e.where), e.name, e.size, e.sha256, e.md5)
        for e in resolved.entries
    ]
    doc = DownloadList(
        entries,
        list_id=list_id,
        description=(
            f"Download list of project {project}: {len(entries)} files, "
            f"{resolved.total_size} bytes, {layout.value} layout"
        ),
        server=base,
        project=project,
        layout=layout.value,
        created=now.isoformat().replace("+00:00", "Z"),
    )
    return SavedList(f"{list_id}.xml", list_format.to_xml(doc), len(entries))
