"""Download lists: a selection saved as an XNAT catalog document, to be fetched later.

The document is XNAT's catalog XML (``cat:Catalog`` in the namespace
``http://nrg.wustl.edu/catalog``), as XNAT writes it for a set of files (its ``xcat``
file listings, its download catalogs): the files are ``cat:entry`` elements of
``cat:entries``, each with

- ``URI``: where the file is fetched (the single-file route, with the server's address);
- ``ID`` and ``cachePath``: its path under the download folder, as the layout lays it out,
  and ``name``: its file name;
- ``digest``: its MD5, the checksum XNAT keeps;
- the ``cat:metaField``\\ s ``SIZE`` (bytes) and ``RELATIVE_PATH`` (the path again), as
  XNAT's file listings set them;
- ``sd:sha256``, in our own namespace (:data:`SD`): the SHA-256 that the download
  verifies and resumes by (the file route's ETag), for which XNAT has no field.

The root carries ``ID`` and ``description`` and, in our namespace, the list's version,
the server, project and layout it was made for, and when.

Reading (:func:`parse`) takes what a user hands over, so it trusts nothing: expat alone,
a document type declaration (and with it every entity: the billion laughs, external
entities) refused before anything is expanded, at most :data:`MAX_BYTES` and
:data:`MAX_ENTRIES`, every path relative and inside the download folder, every size a
number, every SHA-256 64 hex digits, no two entries on one path. This module imports
nothing but the standard library, so that ``scandepot download --list`` stays light.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from xml.parsers import expat

from scandepot.errors import Invalid

CAT = "http://nrg.wustl.edu/catalog"
SD = "urn:scandepot:download-list:1"
VERSION = "1"
SIZE = "SIZE"
RELATIVE_PATH = "RELATIVE_PATH"
MAX_ENTRIES = 500_000
MAX_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 32  # XNAT nests a catalog a session; nothing real goes deeper
FIELD = "list"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_ATTR = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


@dataclass(frozen=True, slots=True)
class ListEntry:
    uri: str
    path: str  # relative to the download folder, '/'-separated
    size: int
    sha256: str
    md5: str | None = None


@dataclass(frozen=True, slots=True)
class DownloadList:
    entries: list[ListEntry]
    list_id: str = ""
    description: str = ""
    server: str | None = None
    project: str | None = None
    layout: str | None = None
    created: str | None = None

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)


def _escape(value: str) -> str:
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char, entity in _ATTR.items():
        text = text.replace(char, entity)
    return text


def _attrs(pairs: Iterable[tuple[str, str | None]]) -> str:
    return "".join(f' {k}="{_escape(v)}"' for k, v in pairs if v is not None)


def _entry_xml(e: ListEntry) -> str:
    name = e.path.rpartition("/")[2]
    attrs = _attrs(
        [
            ("URI", e.uri),
            ("ID", e.path),
            ("name", name),
            ("cachePath", e.path),
            ("digest", e.md5),
            ("sd:sha256", e.sha256),
        ]
    )
    path = _escape(e.path)
    return (
        f"<cat:entry{attrs}><cat:metaFields>"
        f'<cat:metaField name="{SIZE}">{e.size}</cat:metaField>'
        f'<cat:metaField name="{RELATIVE_PATH}">{path}</cat:metaField>'
        "</cat:metaFields></cat:entry>\n"
    )


def to_xml(doc: DownloadList) -> bytes:
    """The list as an XNAT catalog document, one entry a line."""
    root = _attrs(
        [
            ("ID", doc.list_id),
            ("description", doc.description),
            ("sd:version", VERSION),
            ("sd:server", doc.server),
            ("sd:project", doc.project),
            ("sd:layout", doc.layout),
            ("sd:created", doc.created),
        ]
    )
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<cat:Catalog xmlns:cat="{CAT}" xmlns:sd="{SD}"{root}>\n<cat:entries>\n'
    )
    body = "".join(map(_entry_xml, doc.entries))
    return (head + body + "</cat:entries>\n</cat:Catalog>\n").encode()


class _Refused(Exception):
    pass


@dataclass(slots=True)
class _Open:
    """The entry being read: its attributes, and its metafields as they come."""

    attributes: dict[str, str]
    meta: dict[str, str] = field(default_factory=dict)
    meta_name: str | None = None
    meta_text: str = ""


@dataclass(slots=True)
class _Reader:
    stack: list[str] = field(default_factory=list)
    root: dict[str, str] = field(default_factory=dict)
    entries: list[ListEntry] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)  # path -> entry number
    current: _Open | None = None

    def start(self, name: str, attributes: dict[str, str]) -> None:
        if not self.stack:
            if name != f"{CAT} Catalog":
                shown = name.rpartition(" ")[2] or name
                raise _Refused(
                    f"The document's root is '{shown}', not cat:Catalog in the namespace {CAT}."
                )
            self.root = attributes
        if len(self.stack) >= MAX_DEPTH:
            raise _Refused(f"The document nests deeper than {MAX_DEPTH} levels.")
        parent = self.stack[-1] if self.stack else ""
        if name == f"{CAT} entry" and parent == f"{CAT} entries":
            if len(self.entries) >= MAX_ENTRIES:
                raise _Refused(f"The list has more than {MAX_ENTRIES} entries.")
            self.current = _Open(attributes)
        elif name == f"{CAT} metaField" and self.current is not None:
            self.current.meta_name = attributes.get("name", "")
            self.current.meta_text = ""
        self.stack.append(name)

    def end(self, name: str) -> None:
        self.stack.pop()
        current = self.current
        if current is None:
            return
        if name == f"{CAT} metaField" and current.meta_name is not None:
            current.meta.setdefault(current.meta_name, current.meta_text.strip())
            current.meta_name = None
        elif name == f"{CAT} entry" and self.stack and self.stack[-1] == f"{CAT} entries":
            self.current = None
            self.add(current)

    def text(self, data: str) -> None:
        if self.current is not None and self.current.meta_name is not None:
            self.current.meta_text += data

    def add(self, found: _Open) -> None:
        number = len(self.entries) + 1
        entry = _entry(number, found)
        earlier = self.seen.setdefault(entry.path, number)
        if earlier != number:
            raise _Refused(f"Entries {earlier} and {number} both go to '{entry.path}'.")
        self.entries.append(entry)


def _entry(number: int, found: _Open) -> ListEntry:
    attrs, meta = found.attributes, found.meta
    uri = attrs.get("URI", "").strip()
    if not uri:
        raise _Refused(f"Entry {number} has no URI.")
    raw = meta.get(RELATIVE_PATH) or attrs.get("cachePath") or attrs.get("ID") or ""
    if not raw:
        raise _Refused(f"Entry {number} ({uri}) has no path (RELATIVE_PATH, cachePath or ID).")
    path = _safe_path(number, raw)
    size_text = meta.get(SIZE)
    if size_text is None:
        raise _Refused(f"Entry {number} ('{path}') has no {SIZE} metaField.")
    if not (size_text.isascii() and size_text.isdigit()):
        raise _Refused(
            f"Entry {number} ('{path}'): the size '{_short(size_text)}' is not a number."
        )
    sha256 = attrs.get(f"{SD} sha256", "").strip().lower()
    if not _SHA256.fullmatch(sha256):
        raise _Refused(f"Entry {number} ('{path}') has no SHA-256 (sd:sha256, 64 hex digits).")
    md5 = attrs.get("digest", "").strip().lower() or None
    if md5 is not None and not _MD5.fullmatch(md5):
        raise _Refused(f"Entry {number} ('{path}'): the digest is not an MD5 (32 hex digits).")
    return ListEntry(uri, path, int(size_text), sha256, md5)


def _short(value: str) -> str:
    return value if len(value) <= 80 else value[:80] + "…"


def _safe_path(number: int, raw: str) -> str:
    """``raw`` if it names a place inside the download folder; refused otherwise."""
    value = unicodedata.normalize("NFC", raw)
    why = None
    if value.startswith("/") or re.match(r"[A-Za-z]:", value):
        why = "is absolute"
    elif "\\" in value:
        why = "holds a backslash"
    elif any(unicodedata.category(ch) == "Cc" for ch in value):
        why = "holds a control character"
    elif any(part in ("", ".", "..") for part in value.split("/")):
        why = "has an empty, '.' or '..' part"
    if why is not None:
        raise _Refused(
            f"Entry {number}: the path '{_short(raw)}' {why}; a list names places inside "
            "the download folder only."
        )
    return value


def _check_folders(entries: list[ListEntry]) -> None:
    """No path may be a file and also a folder above another."""
    files = {e.path for e in entries}
    for e in entries:
        for parent in PurePosixPath(e.path).parents:
            if str(parent) in files:
                raise _Refused(f"'{parent}' is both a file and a folder in the list.")


def parse(body: bytes) -> DownloadList:
    """The list ``body`` holds; :class:`Invalid` saying what is wrong with it otherwise."""
    if len(body) > MAX_BYTES:
        raise Invalid(f"The list is larger than {MAX_BYTES} bytes.", field=FIELD)
    reader = _Reader()
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse(*args: object) -> None:
        raise _Refused("A document type declaration is not accepted in a list.")

    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
        if not reader.entries:
            raise _Refused("The list names no files (no cat:entry in cat:entries).")
        _check_folders(reader.entries)
    except _Refused as refused:
        raise Invalid(str(refused), field=FIELD) from None
    except expat.ExpatError as error:
        raise Invalid(f"The list is not well-formed XML: {error}.", field=FIELD) from None
    root = reader.root
    return DownloadList(
        reader.entries,
        list_id=root.get("ID", ""),
        description=root.get("description", ""),
        server=root.get(f"{SD} server"),
        project=root.get(f"{SD} project"),
        layout=root.get(f"{SD} layout"),
        created=root.get(f"{SD} created"),
    )
