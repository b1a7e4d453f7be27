"""Single files in a download selection: how a request names them, and finding them.

A file is named as its own route names it (``.../resources/{resource}/files/{path}``,
see :mod:`scandepot.api.v1.resources`), relative to the download route it is given to:

- on a project's: ``sessions/E1/scans/3/resources/DICOM/files/0001.dcm`` or
  ``sessions/E1/resources/QA/files/report.txt`` (without ``sessions/E1/`` when exactly one
  session is chosen: the name is then relative to that session);
- on a session's: ``scans/3/resources/DICOM/files/0001.dcm``, ``resources/QA/files/...``;
- on a scan's: ``resources/DICOM/files/0001.dcm``.

Names are not URL-quoted (a query string is decoded once, by the server). Every part is
checked against its grammar (labels, :func:`~scandepot.catalog.labels.check_file_path`)
and every file is then looked up in the catalog: a request never names a path on disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.archive import shared
from scandepot.catalog.archive import File, Resource, Scan, Session
from scandepot.catalog.labels import check_file_path, check_label
from scandepot.catalog.transfers import Share
from scandepot.errors import Invalid, NotFound

FIELD = "files"
SHOWN = 10  # names quoted in one error message; the rest are counted
_IN_CHUNK = 500  # paths per IN (...) list: well under every driver's parameter limit
_NAME = re.compile(
    r"(?:sessions/(?P<session>[^/]*)/)?(?:scans/(?P<scan>[^/]*)/)?"
    r"resources/(?P<resource>[^/]*)/files/(?P<path>.*)",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class FileRef:
    """One file of a session (its own resource, or one of a scan's), as a request named it."""

    session: str
    scan: str | None
    resource: str
    path: str
    given: str = field(default="", compare=False)  # as the request spelled it, for messages

    def __str__(self) -> str:
        """The name relative to the project, as the selection is recorded."""
        scan = f"scans/{self.scan}/" if self.scan is not None else ""
        return f"sessions/{self.session}/{scan}resources/{self.resource}/files/{self.path}"


def names(refs: Sequence[FileRef]) -> str:
    shown = ", ".join(f"'{r.given or r}'" for r in refs[:SHOWN])
    more = len(refs) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _expected(route: str) -> str:
    if route == "scan":
        return "resources/{resource}/files/{path}"
    head = "[scans/{scan}/]resources/{resource}/files/{path}"
    return head if route == "session" else "[sessions/{session}/]" + head


def _parse(value: str, route: str, *, session: str | None, scan: str | None) -> FileRef:
    found = _NAME.fullmatch(value)
    if (
        found is None
        or (route != "project" and found["session"] is not None)
        or (route == "scan" and found["scan"] is not None)
    ):
        raise Invalid(
            f"files: '{_short(value)}' is not a file name here; expected {_expected(route)}.",
            field=FIELD,
        )
    named_session = found["session"] if found["session"] is not None else session
    if named_session is None:
        raise Invalid(
            f"files: '{_short(value)}' does not say its session; name it "
            "sessions/{session}/… or choose exactly one session.",
            field=FIELD,
        )
    named_scan = found["scan"] if found["scan"] is not None else scan
    try:
        return FileRef(
            check_label(named_session, field=FIELD),
            check_label(named_scan, field=FIELD) if named_scan is not None else None,
            check_label(found["resource"], field=FIELD),
            check_file_path(found["path"], field=FIELD),
            given=value,
        )
    except Invalid as exc:
        raise Invalid(f"In '{_short(value)}': {exc.message}", field=FIELD) from None


def _short(value: str) -> str:
    return value if len(value) <= 200 else value[:200] + "…"


def parse_files(
    values: Iterable[str] | None,
    *,
    route: str = "project",
    session: str | None = None,
    scan: str | None = None,
) -> tuple[FileRef, ...]:
    """Each value a file name relative to the ``route`` (``project``, ``session`` or
    ``scan``, with its ``session`` and ``scan``); on a project's, ``session`` is the one
    session chosen, if exactly one was. Values are never comma-split (a file's path may
    hold commas): the parameter is repeated. Duplicates count once, in the order given."""
    found: dict[FileRef, None] = {}
    for value in values or ():
        found.setdefault(_parse(value, route, session=session, scan=scan), None)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Found:
    """A named file as the catalog has it."""

    file_id: int
    resource_id: int


def find_files(
    db: DBSession, project_id: int, project: str, refs: Sequence[FileRef]
) -> dict[FileRef, Found]:
    """Each named file in the catalog, in the project's sessions; a file that is not there
    is a :class:`NotFound` naming it (and the others missing), never a silent skip."""
    sessions = sorted({r.session for r in refs})
    paths = sorted({r.path for r in refs})
    wanted = set(refs)
    found: dict[FileRef, Found] = {}
    # Sessions shared into the project count as its own, by their labels there.
    here = func.coalesce(Share.label, Session.label)
    for start in range(0, len(paths), _IN_CHUNK):
        rows = db.execute(
            select(File.id, File.resource_id, File.path, Resource.label, Scan.label, here)
            .join(Resource, File.resource_id == Resource.id)
            .join(Session, Resource.session_id == Session.id)
            .outerjoin(Scan, Resource.scan_id == Scan.id)
            .outerjoin(Share, shared.session_share_join(project_id))
            .where(
                shared.in_project(Resource.project_id, project_id),
                here.in_(sessions),
                File.path.in_(paths[start : start + _IN_CHUNK]),
            )
        ).all()
        for file_id, resource_id, path, resource, scan, session in rows:
            ref = FileRef(session, scan, resource, path)
            if ref in wanted:
                found[ref] = Found(file_id, resource_id)
    missing = [r for r in refs if r not in found]
    if missing:
        raise NotFound(f"File(s) {names(missing)} not found in project '{project}'.", field=FIELD)
    return found
