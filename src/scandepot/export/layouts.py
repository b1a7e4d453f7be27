"""Folder layouts inside a download: where each selected file goes in the archive.

Every layout keeps the file's own path inside its resource. Names at the top of an
archive are labels (letters, digits, '-' and '_'), so the manifest files, whose names
contain a dot, can never collide with them.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from scandepot.errors import Conflict

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Layout(enum.StrEnum):
    TREE = "tree"  # {subject}/{session}/scans/{scan}-{type}/resources/{resource}/files/{path}
    SUBJECT = "subject"  # {subject}/{session}/{scan}-{type}/{resource}/{path}
    SESSION = "session"  # {session}/{scan}-{type}/{resource}/{path}
    FLAT = "flat"  # {session}/{scan}-{resource}-{path with '/' as '_'}
    # As XNAT's zips: {session}/scans/{scan}-{type}/resources/{resource}/files/{path}, a
    # session's own resources under {session}/resources/..., a subject's {subject}/resources/...
    XNAT = "xnat"


@dataclass(frozen=True, slots=True)
class Where:
    """The labels that place one file; ``None`` above the level the resource hangs from."""

    subject: str | None
    session: str | None
    scan: str | None
    scan_type: str | None
    resource: str
    path: str


def scan_folder(scan: str, scan_type: str | None) -> str:
    """``{scan}-{type}``, the type made safe for any file system (``T1w MPRAGE`` gives
    ``1-T1w_MPRAGE``); just ``{scan}`` when the scan has no type."""
    if not scan_type:
        return scan
    safe = _UNSAFE.sub("_", scan_type).strip("._") or "_"
    return f"{scan}-{safe}"


def archive_name(layout: Layout, w: Where) -> str:
    if layout is Layout.TREE:
        parts = [p for p in (w.subject, w.session) if p is not None]
        if w.scan is not None:
            parts += ["scans", scan_folder(w.scan, w.scan_type)]
        return "/".join([*parts, "resources", w.resource, "files", w.path])
    if layout is Layout.XNAT:
        top = w.session or w.subject
        parts = [top] if top is not None else []
        if w.scan is not None:
            parts += ["scans", scan_folder(w.scan, w.scan_type)]
        return "/".join([*parts, "resources", w.resource, "files", w.path])
    if layout is Layout.FLAT:
        owner = w.session or w.subject
        stem = [scan_folder(w.scan, None)] if w.scan is not None else []
        name = "-".join([*stem, w.resource, w.path.replace("/", "_")])
        return f"{owner}/{name}" if owner is not None else name
    top = w.subject if layout is Layout.SUBJECT else None
    parts = [p for p in (top, w.session) if p is not None]
    if layout is Layout.SESSION and w.session is None and w.subject is not None:
        parts = [w.subject]
    if w.scan is not None:
        parts.append(scan_folder(w.scan, w.scan_type))
    return "/".join([*parts, w.resource, w.path])


def namer(layout: Layout, w: Where) -> Callable[[str], str]:
    """:func:`archive_name` for the files of one resource (``w`` without its path): the
    part before the path is worked out once."""
    head = archive_name(layout, dataclasses.replace(w, path=""))
    if layout is Layout.FLAT:
        return lambda path: head + path.replace("/", "_")
    return lambda path: head + path


def check_unique(layout: Layout, names: Iterable[str]) -> None:
    """Refuse a selection whose files would land on the same name, or on a name that is
    also a folder, in this layout (an extracted archive would silently lose one)."""
    seen: set[str] = set()
    folders: set[str] = set()
    for name in names:
        if name in seen or name in folders:
            raise Conflict(
                f"Two selected files would both be '{name}' in the '{layout}' layout; "
                "choose another layout.",
                field="layout",
            )
        seen.add(name)
        # Add the folders above the name; once one is known, so are those above it.
        folder = name.rpartition("/")[0]
        while folder and folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    clash = seen & folders
    if clash:
        raise Conflict(
            f"'{min(clash)}' would be both a file and a folder in the '{layout}' layout; "
            "choose another layout.",
            field="layout",
        )
