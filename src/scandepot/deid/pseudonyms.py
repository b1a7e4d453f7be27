"""A project's pseudonym table: imported from CSV, exported as CSV, cleared.

The table is what CTP's ``@lookup`` and the profile's Patient ID and Name read
(:class:`scandepot.deid.model.Keys`): ``kind`` ("ptid", "ptname", or any key type a
script names), the original value and its pseudonym. A CSV is ``kind,original,pseudonym``
(a header row of those words is optional); CTP's lookup table (``TYPE/value =
replacement``, a Java properties file) is read too. Every row is checked before anything is
written: a malformed row, and every row that repeats an original or a pseudonym of its
kind (in the file, or in the table when merging), is reported by its line, and then
nothing is written. ``replace`` makes the file the whole table; ``merge`` adds its rows
to the table. Owners (and site admins) manage it; every change and every export is
audited. docs/deid.md.
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.archive import Project
from scandepot.catalog.deid import Pseudonym
from scandepot.context import Context
from scandepot.deid.ctp import lookup
from scandepot.deid.model import ScriptError
from scandepot.errors import Invalid

HEADER = ("kind", "original", "pseudonym")
MAX_CSV_BYTES = 16 * 1024 * 1024
MAX_VALUE = 255  # the columns' length
# A key type as CTP scripts name them (@lookup(this, ptid)): letters, digits, _ . -
KIND = re.compile(r"[A-Za-z0-9_.-]{1,32}")
SHOWN_ERRORS = 200  # rows named in one refusal; the count says how many more


class Format(enum.StrEnum):
    CSV = "csv"  # kind,original,pseudonym
    PROPERTIES = "properties"  # CTP's lookup table: TYPE/value = replacement

    @classmethod
    def of(cls, name: str) -> Format:
        """A file's format by its name: ``.properties`` is CTP's, anything else CSV."""
        return cls.PROPERTIES if name.lower().endswith(".properties") else cls.CSV


class Mode(enum.StrEnum):
    MERGE = "merge"  # the file's rows added to the table
    REPLACE = "replace"  # the file becomes the whole table


@dataclass(frozen=True, slots=True)
class Entry:
    line: int  # in the file, 1-based
    kind: str
    original: str
    pseudonym: str


@dataclass(frozen=True, slots=True)
class RowResult:
    line: int
    kind: str
    status: str  # "added", "unchanged"


@dataclass(frozen=True, slots=True)
class Report:
    mode: str
    rows: list[RowResult]
    added: int
    unchanged: int
    removed: int  # rows of the table the file replaced
    total: int  # rows in the table afterwards


@dataclass
class _Problems:
    found: list[tuple[int, str]]

    def add(self, line: int, reason: str) -> None:
        self.found.append((line, reason))

    def raise_if_any(self, source: str) -> None:
        if not self.found:
            return
        ordered = sorted(self.found)
        shown = ordered[:SHOWN_ERRORS]
        first = shown[0]
        more = f" ({len(ordered)} rows refused in all)" if len(ordered) > 1 else ""
        raise Invalid(
            f"{source}, line {first[0]}: {first[1]}{more}; nothing was imported.",
            field="pseudonyms",
            details=[{"name": f"line {line}", "reason": reason} for line, reason in shown],
        )


def _value(cell: str, what: str, line: int, problems: _Problems) -> str | None:
    value = cell.strip()
    if not value:
        problems.add(line, f"the {what} is empty")
        return None
    if len(value) > MAX_VALUE:
        problems.add(line, f"the {what} is over {MAX_VALUE} characters")
        return None
    if any(ord(c) < 32 for c in value):
        problems.add(line, f"the {what} holds a control character")
        return None
    return value


def _entry(cells: list[str], line: int, problems: _Problems) -> Entry | None:
    if len(cells) != 3:
        problems.add(line, f"{len(cells)} fields; a row is kind,original,pseudonym")
        return None
    kind = cells[0].strip()
    if not KIND.fullmatch(kind):
        problems.add(
            line, f"'{kind[:40]}' is not a kind (ptid, ptname, or a key type: letters, digits, _.-)"
        )
        kind = ""
    original = _value(cells[1], "original", line, problems)
    pseudonym = _value(cells[2], "pseudonym", line, problems)
    if not kind or original is None or pseudonym is None:
        return None
    return Entry(line, kind, original, pseudonym)


def _duplicates(entries: list[Entry], problems: _Problems) -> None:
    """Two rows with one original (or one pseudonym) of a kind: each named with the other."""
    for column, what in ((2, "original"), (3, "pseudonym")):
        first: dict[tuple[str, str], int] = {}
        for entry in entries:
            key = (entry.kind, (entry.original, entry.pseudonym)[column - 2])
            if key in first:
                problems.add(
                    entry.line, f"{entry.kind} {what} '{key[1]}' is also on line {first[key]}"
                )
            else:
                first[key] = entry.line


def parse(text: str, *, source: str = "the table", form: Format = Format.CSV) -> list[Entry]:
    """Every row of a ``kind,original,pseudonym`` CSV, checked; :class:`Invalid` naming
    each bad row (``details``) when any is. ``form`` PROPERTIES: CTP's lookup table."""
    if form == Format.PROPERTIES:
        return _parse_properties(text, source)
    problems = _Problems([])
    entries: list[Entry] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for number, cells in enumerate(reader):
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank lines
            if number == 0 and tuple(c.strip().lower() for c in cells) == HEADER:
                continue
            entry = _entry(cells, line, problems)
            if entry is not None:
                entries.append(entry)
    except csv.Error as exc:
        problems.add(reader.line_num, f"not CSV: {exc}")
    _duplicates(entries, problems)
    problems.raise_if_any(source)
    return entries


def _parse_properties(text: str, source: str) -> list[Entry]:
    """CTP's lookup table (read as CTP reads it), then checked as a CSV's rows are."""
    try:
        found = lookup.entries(text)
    except ScriptError as exc:
        reason = exc.message.split(": ", 1)[-1]
        problems = _Problems([(exc.line or 0, reason)])
        problems.raise_if_any(source)
    problems = _Problems([])
    entries = [
        entry
        for line, kind, original, replacement in found
        if (entry := _entry([kind, original, replacement], line, problems)) is not None
    ]
    _duplicates(entries, problems)
    problems.raise_if_any(source)
    return entries


def decode(data: bytes, *, source: str = "the table") -> str:
    """An uploaded file's text: UTF-8 (a byte-order mark is dropped), at most
    :data:`MAX_CSV_BYTES`."""
    if len(data) > MAX_CSV_BYTES:
        raise Invalid(f"{source} is over {MAX_CSV_BYTES // (1024 * 1024)} MiB.", field="pseudonyms")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"{source} is not UTF-8 text (byte {exc.start}).", field="pseudonyms"
        ) from None


def _table(db: DBSession, project_id: int) -> list[Pseudonym]:
    return list(db.scalars(select(Pseudonym).where(Pseudonym.project_id == project_id)))


def _against_table(
    entries: list[Entry], table: list[Pseudonym], problems: _Problems
) -> list[RowResult]:
    """Merging: each row new, the same as the table's, or clashing with it."""
    by_original = {(r.kind, r.original): r.pseudonym for r in table}
    by_pseudonym = {(r.kind, r.pseudonym): r.original for r in table}
    results = []
    for e in entries:
        held = by_original.get((e.kind, e.original))
        owner = by_pseudonym.get((e.kind, e.pseudonym))
        if held is not None and held != e.pseudonym:
            problems.add(e.line, f"{e.kind} '{e.original}' has the pseudonym '{held}' already")
        elif owner is not None and owner != e.original:
            problems.add(e.line, f"{e.kind} pseudonym '{e.pseudonym}' is another original's")
        else:
            results.append(RowResult(e.line, e.kind, "unchanged" if held else "added"))
    return results


def import_csv(
    ctx: Context,
    actor: Actor,
    project: str,
    data: str | bytes,
    mode: Mode = Mode.MERGE,
    *,
    source: str = "the table",
    form: Format = Format.CSV,
) -> Report:
    """The rows of ``data`` (a CSV's text, or its bytes: UTF-8) into the table (see the
    module docstring); all or nothing."""
    with ctx.db.read() as db:  # refused before the file is read: no hint to outsiders
        projects.load(db, actor, project, Action.CONFIGURE)
    text = decode(data, source=source) if isinstance(data, bytes) else data
    entries = parse(text, source=source, form=form)
    if not entries:
        raise Invalid(
            f"{source} has no rows: kind,original,pseudonym (CSV) or TYPE/value = "
            "replacement (CTP's lookup table) is expected.",
            field="pseudonyms",
        )
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        table = _table(db, proj.id)
        problems = _Problems([])
        if mode == Mode.MERGE:
            results = _against_table(entries, table, problems)
            problems.raise_if_any(source)
            removed = 0
        else:
            results = [RowResult(e.line, e.kind, "added") for e in entries]
            removed = len(table)
            db.execute(delete(Pseudonym).where(Pseudonym.project_id == proj.id))
            db.flush()
        new = {r.line for r in results if r.status == "added"}
        _insert(db, proj, (e for e in entries if e.line in new))
        added = len(new)
        report = Report(
            mode.value, results, added, len(results) - added, removed, _count(db, proj.id)
        )
        if added or removed:
            audit.record(
                db,
                actor,
                AuditAction.DEID_PSEUDONYMS_CHANGED,
                project=proj.label,
                target="pseudonyms",
                rows=len(entries),
                mode=mode.value,
                added=added,
                removed=removed,
            )
    return report


def _insert(db: DBSession, project: Project, entries: Iterable[Entry]) -> None:
    db.add_all(
        Pseudonym(project_id=project.id, kind=e.kind, original=e.original, pseudonym=e.pseudonym)
        for e in entries
    )
    db.flush()


def _count(db: DBSession, project_id: int) -> int:
    found = db.scalar(select(func.count(Pseudonym.id)).where(Pseudonym.project_id == project_id))
    return int(found or 0)


def export_csv(ctx: Context, actor: Actor, project: str) -> str:
    """The whole table as CSV, header first, by kind and original; the export audited
    (the table re-identifies the project's people)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        rows = db.execute(
            select(Pseudonym.kind, Pseudonym.original, Pseudonym.pseudonym)
            .where(Pseudonym.project_id == proj.id)
            .order_by(Pseudonym.kind, Pseudonym.original)
        ).all()
        writer.writerows(rows)
        audit.record(
            db,
            actor,
            AuditAction.DEID_PSEUDONYMS_EXPORTED,
            project=proj.label,
            target="pseudonyms",
            rows=len(rows),
        )
    return out.getvalue()


def clear(ctx: Context, actor: Actor, project: str) -> int:
    """Remove every row; how many there were."""
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        removed = _count(db, proj.id)
        db.execute(delete(Pseudonym).where(Pseudonym.project_id == proj.id))
        if removed:
            audit.record(
                db,
                actor,
                AuditAction.DEID_PSEUDONYMS_CHANGED,
                project=proj.label,
                target="pseudonyms",
                rows=0,
                mode="clear",
                removed=removed,
            )
    return removed


def counts(ctx: Context, actor: Actor, project: str) -> dict[str, int]:
    """How many rows of each kind the table holds."""
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        rows = db.execute(
            select(Pseudonym.kind, func.count(Pseudonym.id))
            .where(Pseudonym.project_id == proj.id)
            .group_by(Pseudonym.kind)
            .order_by(Pseudonym.kind)
        ).all()
        return {kind: int(n) for kind, n in rows}
