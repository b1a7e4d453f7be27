"""Whether an instance of a release is de-identified, by de-identification's own
verification (:func:`scandepot.deid.verify.check`), as far as the site can know.

The archive keeps no originals once a project's archive script has run (the script's
output replaces them), so an instance is checked against what the site still knows:

1. It is de-identified by declaration: its (0012,0062) Patient Identity Removed is
   ``YES`` (PS3.15 E.1.1: what a de-identifier writes), or an archive script of the site
   made it (``Session.deid``: that script's output was verified against the originals as
   it was archived). Neither: not de-identified.
2. The verification finds nothing in it, checked against the originals the project's
   pseudonym table maps to the pseudonyms it carries (its Patient ID and Name), with
   the tags and rules of the script that made it (what it keeps on purpose is no
   finding): no original value of the table left anywhere, whole or inside text; no
   private attribute the script did not keep.

Findings name the attribute and the reason, never the value found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydicom.dataset import Dataset
from sqlalchemy import select

from scandepot.catalog.archive import Session
from scandepot.catalog.deid import DeidScript, Pseudonym
from scandepot.context import Context
from scandepot.deid import scripts, verify
from scandepot.deid.model import ScriptError

IDENTITY_REMOVED = 0x00120062  # (0012,0062) Patient Identity Removed
# Session.deid: "archive v3 sha256:1a2b3c4d5e6f" (deid.in_force.InForce.label).
_LABEL = re.compile(r"^(?P<purpose>[a-z]+) v(?P<version>\d+) ")
_VALUE = re.compile(r" \(.*\)$")  # the quoted value a finding's reason ends with
SHOWN_FINDINGS = 3


class _Row(Protocol):
    @property
    def project_id(self) -> int: ...

    @property
    def session_id(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Made:
    """What made a session's files: the archive script's label, what it keeps on purpose
    and what it promises (deid.engine reads the same off a script)."""

    label: str | None
    kept: frozenset[int] = frozenset()
    rules: verify.Rules = field(default_factory=verify.Rules)


@dataclass
class DeidCheck:
    """Checks instances; what it reads of the catalog (sessions' scripts, projects'
    pseudonym tables) it reads once per page of files and keeps."""

    ctx: Context
    made: dict[int, Made] = field(default_factory=dict)  # by session id
    tables: dict[int, dict[str, set[str]]] = field(default_factory=dict)  # by project id

    def prepare(self, rows: Sequence[_Row]) -> None:
        sessions = {r.session_id for r in rows if r.session_id is not None} - set(self.made)
        projects = {r.project_id for r in rows} - set(self.tables)
        if not sessions and not projects:
            return
        with self.ctx.db.read() as db:
            if sessions:
                found = db.execute(
                    select(Session.id, Session.project_id, Session.deid).where(
                        Session.id.in_(sessions)
                    )
                ).all()
                for session_id, project_id, label in found:
                    self.made[session_id] = _made(db, project_id, label)
            for project_id in projects:
                self.tables[project_id] = _table(db, project_id)

    def problem(self, row: _Row, ds: Dataset) -> str | None:
        """Why the instance is not de-identified; None when it is."""
        made = self.made.get(row.session_id or 0, Made(None))
        if not _declared(ds) and made.label is None:
            return (
                "not de-identified: (0012,0062) Patient Identity Removed is not YES, "
                "and no archive script of the site made it"
            )
        before = _known(self.tables.get(row.project_id, {}), ds)
        report = verify.check(before, ds, made.kept, rules=made.rules)
        if report.passed:
            return None
        shown = "; ".join(
            f"{f.path} {f.keyword}: {_VALUE.sub('', f.reason)}"
            for f in report.findings[:SHOWN_FINDINGS]
        )
        more = len(report.findings) - SHOWN_FINDINGS
        return f"not de-identified: {shown}" + (f" (and {more} more)" if more > 0 else "")


def _declared(ds: Dataset) -> bool:
    elem = ds.get_item(IDENTITY_REMOVED)
    if elem is None:
        return False
    value = elem.value
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value or "")
    return text.strip(" \x00").upper() == "YES"


def _made(db: Any, project_id: int, label: str | None) -> Made:
    """The script a session's label names, loaded; a script that cannot be found or
    loaded any more leaves the defaults (nothing kept: every private tag a finding)."""
    if not label:
        return Made(None)
    match = _LABEL.match(label)
    if match is None:
        return Made(label)
    row = db.scalar(
        select(DeidScript).where(
            DeidScript.project_id == project_id,
            DeidScript.purpose == match["purpose"],
            DeidScript.version == int(match["version"]),
        )
    )
    if row is None:
        return Made(label)
    try:
        script = scripts.load(row.kind, row.text, row.pixel_text)
    except ScriptError:
        return Made(label)
    kept = getattr(script, "kept", None)
    method = getattr(script, "verify_rules", None)
    rules = method() if callable(method) else None
    return Made(
        label,
        kept if isinstance(kept, frozenset) else frozenset(),
        rules if isinstance(rules, verify.Rules) else verify.Rules(),
    )


def _table(db: Any, project_id: int) -> dict[str, set[str]]:
    """The project's pseudonyms of patients (Patient ID, Patient's Name), lower case, and
    the originals each stands for."""
    table: dict[str, set[str]] = {}
    found = db.execute(
        select(Pseudonym.pseudonym, Pseudonym.original).where(
            Pseudonym.project_id == project_id, Pseudonym.kind.in_(("ptid", "ptname"))
        )
    )
    for pseudonym, original in found:
        table.setdefault(pseudonym.strip().lower(), set()).add(original)
    return table


def _known(table: dict[str, set[str]], ds: Dataset) -> verify.Identifiers:
    """The originals the table maps the instance's Patient ID and Name to, as the
    verification reads a dataset's identifiers."""
    originals: set[str] = set()
    for tag in (0x00100020, 0x00100010):
        elem = ds.get_item(tag)
        if elem is not None and elem.value not in (None, b"", ""):
            value = elem.value
            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            originals |= table.get(text.strip(" \x00").lower(), set())
    if not originals:
        return verify.Identifiers()
    known = Dataset()
    known.PatientName = "\\".join(sorted(originals))
    known.OtherPatientIDs = "\\".join(sorted(originals))
    return verify.identifiers(known)
