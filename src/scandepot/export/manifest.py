"""The manifest of a download: every file with its size and SHA-256.

The same document is the first member of every archive (``manifest.json``, beside
``manifest.sha256`` for ``sha256sum -c``) and the answer of the manifest routes, so that a
client can check an extracted archive or fetch the files one by one and check those.
Where to fetch a file is the interface's to say (:class:`FileRoutes`, templates it
hands over): the service knows labels, not routes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from scandepot.db.base import utcnow
from scandepot.export.layouts import Where
from scandepot.export.selection import Resolved


@dataclass(frozen=True, slots=True)
class FileRoutes:
    """The routes that serve one file, by the level its resource hangs from: templates
    in which ``{project}``, ``{subject}``, ``{session}``, ``{scan}`` and ``{resource}``
    are replaced by the labels, quoted, and that end where the file's path follows."""

    project: str
    subject: str
    session: str
    scan: str

    def url(self, project: str, w: Where) -> str:
        if w.session is not None:
            template = self.scan if w.scan is not None else self.session
        else:
            template = self.subject if w.subject is not None else self.project
        route = _route(template, project, w.subject, w.session, w.scan, w.resource)
        return f"{route}/{quote(w.path, safe='/')}"


@functools.lru_cache(maxsize=1024)  # a download's files share a few resources
def _route(
    template: str,
    project: str,
    subject: str | None,
    session: str | None,
    scan: str | None,
    resource: str,
) -> str:
    labels = {"project": project, "subject": subject, "session": session, "scan": scan}
    labels["resource"] = resource
    return template.format(**{k: quote(v or "", safe="") for k, v in labels.items()})


MANIFEST_NAME = "manifest.json"
SHA256SUMS_NAME = "manifest.sha256"
VERSION = 1
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def build(resolved: Resolved, *, routes: FileRoutes) -> dict[str, Any]:
    project = resolved.project
    return {
        "manifest_version": VERSION,
        "project": resolved.project,
        "layout": resolved.layout.value,
        "selection": resolved.selection,
        "created": utcnow().isoformat().replace("+00:00", "Z"),
        "file_count": len(resolved.entries),
        "total_size": resolved.total_size,
        "files": [
            {
                "name": e.name,
                "size": e.size,
                "sha256": e.sha256,
                "md5": e.md5,
                "url": routes.url(project, e.where),
                "subject": e.where.subject,
                "session": e.where.session,
                "scan": e.where.scan,
                "scan_type": e.where.scan_type,
                "resource": e.where.resource,
                "path": e.where.path,
            }
            for e in resolved.entries
        ],
    }


def to_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as JSON with one file a line: readable, and made by the C encoder
    (an indented dump goes through the pure-Python one, ten times slower)."""
    head = {k: v for k, v in manifest.items() if k != "files"}
    files = ",\n ".join(map(_ENCODE, manifest["files"]))
    return f'{_ENCODE(head)[:-1]}, "files": [\n {files}\n]}}\n'.encode()


def sha256sums(resolved: Resolved) -> bytes:
    """``sha256sum`` format, ``{hex}  {name}`` a line, for ``sha256sum -c manifest.sha256``.
    (File paths never hold newlines or backslashes: the path rule refuses them.)"""
    return "".join(f"{e.sha256}  {e.name}\n" for e in resolved.entries).encode()
