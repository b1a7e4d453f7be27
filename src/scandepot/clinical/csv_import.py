"""Clinical records imported from CSV: one row per subject, columns mapped to the subject
schema's variables, with a row-by-row report.

The file is read as :mod:`scandepot.clinical.csv_values` says (UTF-8, comma or
semicolon, cells turned into the variables' types). Each row is checked: its subject
exists in the project (subjects are not created by an import), appears once in the file,
each cell has its variable's type, and the record it makes passes the schema in force.
``merge`` (the default) lays the row's values over the subject's record (an empty cell
leaves a value as it is); ``replace`` makes the row the whole record.

Nothing is written unless every row passes, or the caller asks to take the valid rows
(``partial``): then those are written and the others reported. Everything happens in one
transaction, with one audit entry (``clinical.records_changed``, ``source`` import).
A refusal of the whole file (not UTF-8, too large, a header that does not fit the
schema) is an :class:`~scandepot.errors.Invalid` naming every reason.
"""

from __future__ import annotations

import csv
import enum
import io
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.archive import Project, Subject
from scandepot.catalog.clinical import ClinicalLevel, ClinicalRecord, ClinicalSchema
from scandepot.clinical import csv_values, records, schemas
from scandepot.clinical.csv_values import BadCell, Columns
from scandepot.context import Context
from scandepot.errors import Invalid


class Mode(enum.StrEnum):
    MERGE = "merge"  # the row's values laid over the record
    REPLACE = "replace"  # the row is the whole record


@dataclass(frozen=True, slots=True)
class CellProblem:
    column: str
    variable: str | None
    reason: str


@dataclass(slots=True)
class RowReport:
    row: int  # as a spreadsheet numbers it: the header is row 1
    subject: str
    status: str = "refused"  # created, changed, unchanged, refused
    problems: list[CellProblem] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # what the record becomes


@dataclass(frozen=True, slots=True)
class ImportReport:
    written: bool  # the import was applied (every row passed, or partial was asked)
    mode: str
    delimiter: str
    schema_version: int
    ignored_columns: list[str]
    rows: list[RowReport]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)


@dataclass(frozen=True, slots=True)
class Options:
    subject_column: str = "subject"
    mapping: Mapping[str, str] = field(default_factory=dict)
    partial: bool = False
    ignore_unknown: bool = False
    mode: Mode = Mode.MERGE


def _rows(text: str, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    found: list[tuple[int, list[str]]] = []
    try:
        header = next(reader, None)
        if header is None or not any(c.strip() for c in header):
            raise Invalid("The file is empty: a header row is expected first.", field="file")
        for number, cells in enumerate(reader, start=2):
            if any(c.strip() for c in cells):
                found.append((number, cells))
            if len(found) > csv_values.MAX_ROWS:
                raise Invalid(
                    f"The file has over {csv_values.MAX_ROWS} rows; split it.", field="file"
                )
    except csv.Error as exc:
        raise Invalid(
            f"Not CSV on line {reader.line_num}: {exc}; nothing was imported.", field="file"
        ) from None
    if not found:
        raise Invalid("The file has a header and no rows: nothing to import.", field="file")
    return header, found


def _cells(report: RowReport, cells: list[str], cols: Columns) -> dict[str, Any]:
    """The row's values by variable; its problems added to ``report``."""
    if len(cells) > len(cols.names):
        report.problems.append(
            CellProblem("", None, f"{len(cells)} cells; the header has {len(cols.names)}")
        )
        return {}
    values: dict[str, Any] = {}
    for index, var in cols.variables.items():
        cell = cells[index].strip() if index < len(cells) else ""
        if not cell:
            continue
        try:
            values[var.name] = csv_values.coerce(var, cell)
        except BadCell as exc:
            report.problems.append(CellProblem(cols.names[index], var.name, str(exc)))
    return values


def _subjects(db: DBSession, project: Project) -> dict[str, Subject]:
    found = db.scalars(select(Subject).where(Subject.project_id == project.id))
    return {s.label.lower(): s for s in found}


def _existing(db: DBSession, project: Project) -> dict[int, ClinicalRecord]:
    rows = db.scalars(
        select(ClinicalRecord).where(
            ClinicalRecord.project_id == project.id, ClinicalRecord.session_id.is_(None)
        )
    )
    return {r.subject_id: r for r in rows}


def _check_row(
    report: RowReport,
    values: dict[str, Any],
    record: ClinicalRecord | None,
    checker: schemas.Checker,
    cols: Columns,
    mode: Mode,
) -> None:
    """The record the row makes, checked; ``report.values`` when it passes."""
    merged = dict(values)
    if mode == Mode.MERGE and record is not None and record.values:
        merged = {**record.values, **values}
    for problem in checker.problems(merged):
        name = problem.path.lstrip("/")
        report.problems.append(CellProblem(cols.column_of(name), name or None, problem.message))
    if not report.problems:
        order = checker.schema["properties"]
        report.values = {name: merged[name] for name in order if name in merged}


def _reports(
    db: DBSession,
    project: Project,
    schema: ClinicalSchema,
    cols: Columns,
    found: list[tuple[int, list[str]]],
    mode: Mode,
) -> list[tuple[RowReport, Subject | None]]:
    subjects = _subjects(db, project)
    existing = _existing(db, project)
    checker = schemas.Checker(schema.schema)
    labels = Counter(
        cells[cols.subject].strip().lower() for _, cells in found if cols.subject < len(cells)
    )
    rows_of: dict[str, list[int]] = {}
    for number, cells in found:
        label = cells[cols.subject].strip() if cols.subject < len(cells) else ""
        rows_of.setdefault(label.lower(), []).append(number)
    done = []
    for number, cells in found:
        label = cells[cols.subject].strip() if cols.subject < len(cells) else ""
        report = RowReport(number, label)
        subject = subjects.get(label.lower()) if label else None
        column = cols.names[cols.subject]
        if not label:
            report.problems.append(CellProblem(column, None, "no subject label"))
        elif labels[label.lower()] > 1:
            others = ", ".join(str(n) for n in rows_of[label.lower()] if n != number)
            report.problems.append(
                CellProblem(column, None, f"subject '{label}' is also on row(s) {others}")
            )
        elif subject is None:
            report.problems.append(
                CellProblem(
                    column,
                    None,
                    f"no subject '{label}' in project '{project.label}' (create "
                    "it first: an import does not create subjects)",
                )
            )
        values = _cells(report, cells, cols)
        if not report.problems and subject is not None:
            _check_row(report, values, existing.get(subject.id), checker, cols, mode)
        done.append((report, subject))
    return done


def _write(
    db: DBSession,
    actor: Actor,
    project: Project,
    schema: ClinicalSchema,
    done: list[tuple[RowReport, Subject | None]],
) -> None:
    existing = _existing(db, project)
    taken = [(r, s) for r, s in done if not r.problems and s is not None]
    fresh = [
        records.new_row(records.Owner(project, s, None), schema.version, actor)
        for _, s in taken
        if s is not None and s.id not in existing
    ]
    db.add_all(fresh)
    db.flush()  # every new record's ID in one go, for their versions
    existing.update((row.subject_id, row) for row in fresh)
    changed: dict[str, int] = {}
    names = []
    for report, subject in taken:
        if subject is None:
            continue
        who = records.Owner(project, subject, None)
        _, report.status = records.write(
            db,
            actor,
            who,
            existing.get(subject.id),
            report.values,
            schema_version=schema.version,
            source="import",
        )
        if report.status != "unchanged":
            changed[report.status] = changed.get(report.status, 0) + 1
            names.append(subject.label)
    if names:
        records.audit_change(db, actor, project.label, names, "import", changed)


def import_csv(
    ctx: Context, actor: Actor, project: str, data: bytes, options: Options | None = None
) -> ImportReport:
    """The rows of ``data`` (a CSV file's bytes) as subjects' records; see the module's
    docstring. The report says, row by row, what was written or refused and why."""
    opts = options or Options()
    with ctx.db.read() as db:  # refused before the file is read: no hint to outsiders
        projects.load(db, actor, project, Action.EDIT)
    text = csv_values.decode(data)
    delimiter = csv_values.delimiter(text)
    header, found = _rows(text, delimiter)
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.EDIT)
        schema = schemas.in_force_row(db, proj, ClinicalLevel.SUBJECT)
        cols = csv_values.columns(
            header,
            schemas.variables(schema.schema),
            subject_column=opts.subject_column,
            mapping=opts.mapping,
            ignore_unknown=opts.ignore_unknown,
        )
        done = _reports(db, proj, schema, cols, found, opts.mode)
        refused = any(report.problems for report, _ in done)
        written = (opts.partial or not refused) and any(not r.problems for r, _ in done)
        if written:
            _write(db, actor, proj, schema, done)
        for report, _ in done:
            if report.problems:
                report.status = "refused"
            elif not written:
                report.status = "not written"
    rows = [report for report, _ in done]
    return ImportReport(written, opts.mode.value, delimiter, schema.version, cols.ignored, rows)
