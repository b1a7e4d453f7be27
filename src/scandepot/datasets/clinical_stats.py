"""Clinical variables of a release as distributions of subjects (docs/catalogue.md).

The variables come from the schema in force of each project the release draws on
(:mod:`scandepot.clinical.schemas`): a number (without ``enum``) is counted in bins, a
boolean or a variable with ``enum`` by category (only the schema's own values: anything
else is "other"). Free text, dates and every variable marked ``x-identifying`` are never
shown, nor is a variable two projects define differently. Bins are of a round width with
the tails folded until each holds at least the suppression threshold of subjects, so that
no bin edge points at one extreme value.

A subject-level variable counts each subject once (its cells, "missing" included, add up
to the subjects: suppressed as a partition); a session-level one counts the subjects with
a session in each cell (cells overlap: primary suppression).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Session as ImagingSession
from scandepot.catalog.archive import Subject
from scandepot.catalog.clinical import ClinicalLevel, ClinicalRecord
from scandepot.clinical import schemas
from scandepot.datasets.suppression import partition, small

CHUNK = 500
TARGET_BINS = 8
MISSING = "missing"
OTHER = "other"


@dataclass(slots=True)
class _Variable:
    name: str
    level: str
    kind: str  # "numbers" or "categories"
    title: str | None
    unit: str | None
    categories: list[str]
    integer: bool
    values: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))


def distributions(
    db: DBSession, subjects: list[int], sessions: list[int], total: int, below: int
) -> list[dict[str, Any]]:
    """One entry per variable shown, subject level first, in the schemas' order."""
    projects = _projects(db, subjects)
    variables = _variables(db, projects)
    if not variables:
        return []
    for sid, session, values in _records(db, subjects, sessions):
        if not isinstance(values, dict):
            continue
        level = ClinicalLevel.SUBJECT.value if session is None else ClinicalLevel.SESSION.value
        for name, value in values.items():
            variable = variables.get((level, name))
            if variable is not None and value is not None:
                variable.values[sid].append(value)
    return [_shown(v, total, below) for v in variables.values()]


def _projects(db: DBSession, subjects: list[int]) -> list[int]:
    found: set[int] = set()
    for ids in _chunks(subjects):
        found.update(db.scalars(select(Subject.project_id).where(Subject.id.in_(ids))))
    return sorted(found)


def _variables(db: DBSession, projects: list[int]) -> dict[tuple[str, str], _Variable]:
    """The variables every project defines alike; an identifying one in any project, or
    one defined two ways, is left out."""
    found: dict[tuple[str, str], _Variable] = {}
    refused: set[tuple[str, str]] = set()
    for level in (ClinicalLevel.SUBJECT.value, ClinicalLevel.SESSION.value):
        for project in projects:
            row = schemas.newest_row(db, project, level)
            if row is None:
                continue
            for spec in schemas.variables(row.schema):
                key = (level, spec.name)
                kind = _kind(spec)
                if kind is None or spec.identifying:
                    refused.add(key)
                    continue
                categories = _categories(spec)
                held = found.get(key)
                if held is None:
                    found[key] = _Variable(
                        spec.name,
                        level,
                        kind,
                        spec.title,
                        spec.unit,
                        categories,
                        spec.type == "integer",
                    )
                elif held.kind != kind or held.unit != spec.unit:
                    refused.add(key)
                else:
                    held.categories += [c for c in categories if c not in held.categories]
                    held.integer = held.integer and spec.type == "integer"
    return {k: v for k, v in found.items() if k not in refused}


def _kind(spec: schemas.Variable) -> str | None:
    if spec.is_date:
        return None
    if spec.type == "boolean" or spec.enum:
        return "categories"
    if spec.type in ("number", "integer"):
        return "numbers"
    return None  # free text


def _categories(spec: schemas.Variable) -> list[str]:
    if spec.type == "boolean":
        return ["true", "false"]
    return [_text(v) for v in spec.enum or []]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _records(
    db: DBSession, subjects: list[int], sessions: list[int]
) -> Iterator[tuple[int, int | None, Any]]:
    """(subject, session or None, values) of the release's subject and session records."""
    r = ClinicalRecord
    for ids in _chunks(subjects):
        yield from db.execute(
            select(r.subject_id, r.session_id, r.values).where(
                r.subject_id.in_(ids), r.session_id.is_(None)
            )
        ).all()
    for ids in _chunks(sessions):
        yield from db.execute(
            select(ImagingSession.subject_id, r.session_id, r.values)
            .join(ImagingSession, ImagingSession.id == r.session_id)
            .where(r.session_id.in_(ids))
        ).all()


def _shown(variable: _Variable, total: int, below: int) -> dict[str, Any]:
    cells = (
        _category_cells(variable)
        if variable.kind == "categories"
        else _number_cells(variable, below)
    )
    entry: dict[str, Any] = {
        "name": variable.name,
        "title": variable.title,
        "level": variable.level,
        "kind": variable.kind,
        "unit": variable.unit,
        "withheld": False,
    }
    if variable.level == ClinicalLevel.SUBJECT.value:
        held = len(variable.values)
        missing = total - held
        if missing:
            cells.append((MISSING, missing))
        shown = partition(cells, total, below)
        if shown is None:
            return {**entry, "withheld": True, "bins": []}
    else:
        shown = [small(n, below) for _, n in cells]
    entry["bins"] = [{"value": v, "subjects": s} for (v, _), s in zip(cells, shown, strict=True)]
    return entry


def _category_cells(variable: _Variable) -> list[tuple[str, int]]:
    """Subjects per category, in the schema's order, "other" last."""
    people: dict[str, set[int]] = defaultdict(set)
    for sid, values in variable.values.items():
        for value in values:
            text = _text(value)
            people[text if text in variable.categories else OTHER].add(sid)
    order = [*variable.categories, OTHER]
    return [(c, len(people[c])) for c in order if people.get(c)]


def _number_cells(variable: _Variable, below: int) -> list[tuple[str, int]]:
    """Subjects per bin of a round width, the tails folded into "< a" and "≥ b" bins of
    at least ``below`` subjects each."""
    numbers = {
        sid: [float(v) for v in values if _finite(v)] for sid, values in variable.values.items()
    }
    flat = [v for values in numbers.values() for v in values]
    if not flat:
        return []
    low, high = min(flat), max(flat)
    width = _round_width((high - low) / TARGET_BINS, integer=variable.integer)
    start = math.floor(low / width) * width
    count = max(1, math.floor((high - start) / width) + 1)
    bins: list[set[int]] = [set() for _ in range(count)]
    for sid, values in numbers.items():
        for v in values:
            bins[min(count - 1, int((v - start) // width))].add(sid)
    edges = [start + i * width for i in range(count + 1)]
    return _fold(bins, edges, below, integer=variable.integer)


def _fold(
    bins: list[set[int]], edges: list[float], below: int, *, integer: bool
) -> list[tuple[str, int]]:
    first, last = 0, len(bins) - 1
    tail: set[int] = set()
    while first < last and len(tail | bins[first]) < below:
        tail |= bins[first]
        first += 1
    cells: list[tuple[str, set[int]]] = []
    if tail:
        bins[first] = tail | bins[first]
        cells.append((f"< {_num(edges[first + 1])}", bins[first]))
        first += 1
    top: set[int] = set()
    while last > first and len(top | bins[last]) < below:
        top |= bins[last]
        last -= 1
    for index in range(first, last + 1 if not top else last):
        cells.append((_range(edges[index], edges[index + 1], integer=integer), bins[index]))
    if top:
        cells.append((f"≥ {_num(edges[last])}", top | bins[last]))
    return [(label, len(people)) for label, people in cells if people]


def _range(low: float, high: float, *, integer: bool) -> str:
    if integer and high - low == 1:
        return _num(low)
    if integer:
        return f"{_num(low)}–{_num(high - 1)}"
    return f"{_num(low)} to < {_num(high)}"


def _round_width(raw: float, *, integer: bool) -> float:
    if raw <= 0:
        return 1.0
    scale = 10 ** math.floor(math.log10(raw))
    width = next(m * scale for m in (1, 2, 2.5, 5, 10) if m * scale >= raw)
    return float(max(1, math.ceil(width))) if integer else width


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _num(value: float) -> str:
    return f"{value:g}"


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
