"""What a download contains: a selection resolved to files, each with its archive name.

Access is checked once, at the project (:attr:`Action.DOWNLOAD`); everything else is SQL
limited to that project. The scan-type pattern is an RE2 regular expression applied to
the scan rows, so that it means the same on SQLite and PostgreSQL. RE2 matches in time
linear in the text and never backtracks, so no pattern a caller sends can stall the
server (Python's ``re`` took 27 s on an 81-character pattern, holding the GIL throughout);
see docs/downloads.md for the syntax.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol

import re2
from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import layout, projects, resources, shared
from scandepot.archive.resources import OwnerRef
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.labels import check_label
from scandepot.catalog.transfers import Share
from scandepot.errors import Invalid, NotFound
from scandepot.export.layouts import Layout, Where, check_unique, namer
from scandepot.export.picked import FileRef, find_files
from scandepot.export.picked import names as file_names

ALL: Literal["ALL"] = "ALL"
PATTERN_MAX = 200
_IN_CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit

ScanChoice = tuple[str, ...] | Literal["ALL"] | None


@dataclass(frozen=True, slots=True)
class Selection:
    """A choice of files in one project; empty fields do not filter.

    ``scans``: ``None`` takes session-level resources and every scan; ``"ALL"`` every scan
    and no session-level resources; a tuple of scan IDs those scans. A ``scan_types``
    pattern, like any choice of scans, leaves session-level resources out.

    ``files`` names single files (:mod:`scandepot.export.picked`): naming a file chooses
    its session too, and a session with files named gives those files only; the other
    choices still apply to them, and a named file they leave out is refused.
    """

    sessions: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    scans: ScanChoice = None
    scan_types: str | None = None
    resources: tuple[str, ...] = ()
    files: tuple[FileRef, ...] = ()

    @property
    def session_labels(self) -> tuple[str, ...]:
        """The sessions chosen by label or through their files (empty: no such choice)."""
        found = dict.fromkeys(self.sessions)
        found.update(dict.fromkeys(f.session for f in self.files))
        return tuple(found)

    def describe(self) -> dict[str, Any]:
        """The selection as recorded in the audit log and the manifest (only what is set)."""
        found: dict[str, Any] = {
            "sessions": list(self.sessions),
            "subjects": list(self.subjects),
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "scans": self.scans if isinstance(self.scans, str) else list(self.scans or ()),
            "scan_types": self.scan_types,
            "resources": list(self.resources),
            "files": [str(f) for f in self.files],
        }
        return {k: v for k, v in found.items() if v}


@dataclass(frozen=True, slots=True)
class Entry:
    """One selected file: where it goes in the archive, what it must be, where it is."""

    name: str
    where: Where
    size: int
    sha256: str
    md5: str
    modified: dt.datetime
    source: str  # POSIX path relative to the file store's archive folder
    crc32: int | None = None  # as catalogued; None: not known yet (see File.crc32)
    file_id: int = 0  # the catalog's File.id (a de-identified download finds its instance)


@dataclass(frozen=True, slots=True)
class Resolved:
    project: str
    layout: Layout
    entries: list[Entry]
    selection: dict[str, Any] = field(default_factory=dict)

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)


def split_list(values: Iterable[str] | None, *, field: str) -> tuple[str, ...]:
    """``["DICOM,NIFTI", "QA"]`` to ``("DICOM", "NIFTI", "QA")``: repeated and comma-separated
    values both work; each must be a label."""
    found: dict[str, None] = {}
    for value in values or ():
        for item in value.split(","):
            item = item.strip()
            if item:
                found[check_label(item, field=field)] = None
    return tuple(found)


def scan_choice(values: Iterable[str] | None) -> ScanChoice:
    items = split_list(values, field="scans")
    if not items:
        return None
    if ALL in items:
        if len(items) > 1:
            raise Invalid("scans is either ALL or a list of scan IDs, not both.", field="scans")
        return ALL
    return items


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a bad pattern is the caller's 422, not a line on stderr
    options.max_mem = 1 << 22  # bytes for the compiled pattern: ample for 200 characters
    return options


_OPTIONS = _re2_options()


def compile_pattern(pattern: str | None) -> Pattern | None:
    """The scan-type pattern, compiled by RE2 (linear time: see the module docstring)."""
    if not pattern:
        return None
    if len(pattern) > PATTERN_MAX:
        raise Invalid(f"scan_types is longer than {PATTERN_MAX} characters.", field="scan_types")
    try:
        compiled: Pattern = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        first = exc.args[0] if exc.args else exc
        why = first.decode(errors="replace") if isinstance(first, bytes) else str(first)
        raise Invalid(
            f"scan_types '{pattern}' is not a regular expression RE2 accepts: {why}.",
            field="scan_types",
        ) from None
    return compiled


def _names(items: Sequence[str]) -> str:
    return ", ".join(f"'{i}'" for i in items)


def _require_all(wanted: Sequence[str], found: Iterable[str], message: str, field: str) -> None:
    present = set(found)
    missing = [w for w in wanted if w not in present]
    if missing:
        raise NotFound(message.format(names=_names(missing)), field=field)


def _scan_sort_key(scan: str | None) -> tuple[int, int, str]:
    if scan is None:
        return (0, 0, "")
    return (1, int(scan), "") if scan.isdigit() else (2, 0, scan)


@dataclass(frozen=True, slots=True)
class _Owner:
    """What the files of one resource share, worked out once for all of them."""

    where_base: Where  # path empty: filled per file
    files_dir: str  # relative to the archive folder
    sort_key: tuple[Any, ...]  # files sort by this, then by path
    name: Callable[[str], str]  # the archive name of a path, in the layout asked for

    @classmethod
    def of(cls, lay: Layout, where: Where, owner_dir: PurePosixPath) -> _Owner:
        files_dir = str(layout.resource_files_dir(owner_dir, where.resource))
        sort_key = (
            where.subject or "",
            where.session or "",
            _scan_sort_key(where.scan),
            where.resource,
        )
        return cls(where, files_dir, sort_key, namer(lay, where))


_FILE_COLUMNS = (
    File.resource_id,
    File.path,
    File.size,
    File.sha256,
    File.md5,
    File.updated_at,
    File.crc32,
    File.id,
)


def _file_rows(
    db: DBSession, column: InstrumentedAttribute[int], ids: Sequence[int]
) -> Iterator[Any]:
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        yield from db.execute(select(*_FILE_COLUMNS).where(column.in_(chunk))).all()


def _files(
    db: DBSession,
    lay: Layout,
    owners: dict[int, _Owner],
    *,
    whole: Sequence[int],
    picked: Sequence[int] = (),
) -> list[Entry]:
    """Every file of the ``whole`` resources, and the ``picked`` files (by ID); each of
    their resources is in ``owners``."""
    entries: list[Entry] = []
    keyed: list[tuple[tuple[Any, ...], str, int]] = []
    chosen = list(_file_rows(db, File.id, picked))
    if len(chosen) != len(picked):  # deleted since they were looked up: never a silent skip
        raise NotFound("Chosen files were deleted meanwhile; choose again.", field="files")
    rows = chain(_file_rows(db, File.resource_id, whole), chosen)
    for resource_id, path, size, sha256, md5, updated, crc32, file_id in rows:
        owner = owners[resource_id]
        b = owner.where_base
        w = Where(b.subject, b.session, b.scan, b.scan_type, b.resource, path)
        keyed.append((owner.sort_key, path, len(keyed)))
        entries.append(
            Entry(
                name=owner.name(path),
                where=w,
                size=size,
                sha256=sha256,
                md5=md5,
                modified=updated,
                source=f"{owner.files_dir}/{path}",
                crc32=crc32,
                file_id=file_id,
            )
        )
    keyed.sort()
    entries = [entries[i] for _, _, i in keyed]
    check_unique(lay, (e.name for e in entries))
    return entries


def _here(proj: Project) -> tuple[Any, Any]:
    """A session's label and its subject's in ``proj``: their own, or those they are
    shared into it under (archive/shared.py)."""
    return (
        func.coalesce(Share.label, Session.label),
        func.coalesce(shared.session_subject_label_in(proj.id), Subject.label),
    )


def _sessions_here(stmt: Select[Any], proj: Project) -> Select[Any]:
    """``stmt`` (on sessions) narrowed to those of ``proj``, its own and those shared
    into it."""
    stmt = stmt.outerjoin(Share, shared.session_share_join(proj.id))
    return stmt.where(shared.in_project(Session.project_id, proj.id))


def _check_named(db: DBSession, proj: Project, sel: Selection) -> None:
    """Every session and subject named must exist (a typo must not silently shrink the
    download)."""
    session_here, subject_here = _here(proj)
    if sel.sessions:
        stmt = select(session_here).select_from(Session)
        found = db.scalars(_sessions_here(stmt, proj).where(session_here.in_(sel.sessions)))
        _require_all(
            sel.sessions,
            found,
            f"Session(s) {{names}} not found in project '{proj.label}'.",
            "sessions",
        )
    if sel.subjects:
        named = func.coalesce(shared.subject_label_in(proj.id), Subject.label)
        found = db.scalars(
            select(named).where(
                or_(Subject.project_id == proj.id, shared.shared_subjects(proj.id)),
                named.in_(sel.subjects),
            )
        )
        _require_all(
            sel.subjects,
            found,
            f"Subject(s) {{names}} not found in project '{proj.label}'.",
            "subjects",
        )


# Resource ID and label, scan label and type (None for a session resource), session and
# subject (labels in the project asked), and where its files are: the owning project,
# session and subject labels there.
_ResourceRow = Row[int, str, str | None, str | None, str, str, str, str, str]


def _resource_rows(
    db: DBSession, proj: Project, sel: Selection, pattern: Pattern | None
) -> Sequence[_ResourceRow]:
    """The resources that the choices other than ``files`` take; a name among them that
    matches nothing is refused."""
    rows = list(db.execute(_resources_chosen(proj, sel, pattern)).all())
    if isinstance(sel.scans, tuple):
        _check_scans(db, proj, sel, sel.scans)
    if pattern is not None:
        rows = [r for r in rows if pattern.search(r[3] or "")]
        if not rows:
            raise NotFound(
                f"No scan in the selection has a type that matches '{sel.scan_types}'.",
                field="scan_types",
            )
    if sel.resources:
        _require_all(
            sel.resources,
            (r[1] for r in rows),
            "No resource labelled {names} in the selected session(s) and scan(s).",
            "resources",
        )
        rows = [r for r in rows if r[1] in sel.resources]
    return rows


def _resources_chosen(proj: Project, sel: Selection, pattern: Pattern | None) -> Select[Any]:
    """The query of the resources that the sessions, subjects, dates and scans chosen
    take; the scan-type pattern is applied to its rows, and the resource labels after.
    Sessions shared into the project are taken as its own, by their labels there."""
    session_here, subject_here = _here(proj)
    stmt = (
        select(
            Resource.id,
            Resource.label,
            Scan.label,
            Scan.type,
            session_here,
            subject_here,
            Project.label,
            Session.label,
            Subject.label,
        )
        .join(Session, Resource.session_id == Session.id)
        # The subject of the session as it is now (a session may have moved to another).
        .join(Subject, Session.subject_id == Subject.id)
        .join(Project, Project.id == Session.project_id)
        .outerjoin(Scan, Resource.scan_id == Scan.id)
    )
    stmt = _sessions_here(stmt, proj)
    if sel.session_labels:
        stmt = stmt.where(session_here.in_(sel.session_labels))
    if sel.subjects:
        stmt = stmt.where(subject_here.in_(sel.subjects))
    if sel.date_from:
        stmt = stmt.where(Session.date >= sel.date_from)
    if sel.date_to:
        stmt = stmt.where(Session.date <= sel.date_to)
    if sel.scans is not None or pattern is not None:
        stmt = stmt.where(Resource.scan_id.is_not(None))
    if isinstance(sel.scans, tuple):
        stmt = stmt.where(Scan.label.in_(sel.scans))
    return stmt


def _check_scans(db: DBSession, proj: Project, sel: Selection, scans: tuple[str, ...]) -> None:
    """Every scan named must be in a session chosen (a typo must not shrink the download)."""
    stmt = select(Scan.label).join(Session, Scan.session_id == Session.id)
    stmt = _sessions_here(stmt, proj).where(Scan.label.in_(scans))
    if sel.session_labels:
        stmt = stmt.where(_here(proj)[0].in_(sel.session_labels))
    _require_all(
        scans,
        db.scalars(stmt),
        "Scan(s) {names} not found in the selected session(s).",
        "scans",
    )


def resolve_selection(
    db: DBSession, actor: Actor, project: str, sel: Selection, lay: Layout
) -> Resolved:
    proj = projects.load(db, actor, project, Action.DOWNLOAD)
    pattern = compile_pattern(sel.scan_types)
    _check_named(db, proj, sel)
    picked = find_files(db, proj.id, proj.label, sel.files) if sel.files else {}
    rows = _resource_rows(db, proj, sel, pattern)
    taken = {r[0] for r in rows}
    left_out = [f for f in sel.files if picked[f].resource_id not in taken]
    if left_out:
        raise Invalid(
            f"File(s) {file_names(left_out)} are left out by the other choices "
            "(subjects, dates, scans, scan_types, resources); name them there too, or "
            "leave those choices out.",
            field="files",
        )
    # A session with files named gives those files only.
    narrowed = {f.session for f in sel.files}
    holding = {found.resource_id for found in picked.values()}
    rows = [r for r in rows if r[4] not in narrowed or r[0] in holding]
    owners = {
        rid: _Owner.of(
            lay,
            Where(subject, session, scan, scan_type, label, ""),
            layout.owner_dir(home, home_subject, home_session, scan),
        )
        for rid, label, scan, scan_type, session, subject, home, home_session, home_subject in rows
    }
    whole = [r[0] for r in rows if r[4] not in narrowed]
    chosen = [found.file_id for found in picked.values()]
    entries = _files(db, lay, owners, whole=whole, picked=chosen)
    if not entries:
        raise NotFound("The selection matches no files.", field="selection")
    return Resolved(proj.label, lay, entries, sel.describe())


def resolve_resource(
    db: DBSession, actor: Actor, ref: OwnerRef, label: str, lay: Layout
) -> Resolved:
    owner = resources.load_owner(db, actor, ref, Action.DOWNLOAD)
    found = resources.find(db, owner, label, ref)
    subject = owner.session.subject if owner.session is not None else owner.subject
    where = Where(
        subject.label if subject is not None else None,
        owner.session.label if owner.session is not None else None,
        owner.scan.label if owner.scan is not None else None,
        owner.scan.type if owner.scan is not None else None,
        label,
        "",
    )
    owners = {found.id: _Owner.of(lay, where, owner.dir)}
    entries = _files(db, lay, owners, whole=[found.id])
    if not entries:
        raise NotFound(f"Resource '{label}' of {ref.describe()} has no files.", field="resource")
    described: dict[str, Any] = {"resource": label}
    for key in ("subject", "session", "scan"):
        value = getattr(ref, key)
        if value is not None:
            described[key] = value
    return Resolved(owner.project.label, lay, entries, described)
