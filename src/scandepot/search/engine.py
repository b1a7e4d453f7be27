"""A search, as one SQL query on the catalog.

The rows are those of the search's root element, joined upwards to what they belong to
(a scan to its session, subject and project), so every field of an element above the root
is one column of the same row; an element below the root would make several rows of one
and is refused (XNAT lists such a search once per lower row; ask for the lower element
instead). Criteria become one ``WHERE`` clause, AND and OR nested as sent, beside the
permission condition of :func:`scandepot.access.permissions.permission_clause` on the
row's project: a row of a project the caller may not read is never matched, returned or
counted. Rows come in the order they were created.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Level as AccessLevel
from scandepot.access.permissions import permission_clause
from scandepot.catalog.archive import Project, Scan, Session, Subject
from scandepot.catalog.transfers import Share, ShareKind
from scandepot.context import Context
from scandepot.errors import BadRequest
from scandepot.search import typed_rows
from scandepot.search.criteria import Comparison, CriteriaSet, Criterion, FieldRef, Method, Search
from scandepot.search.elements import Element, Field, Kind, Level, element
from scandepot.search.typed_rows import column_of
from scandepot.search.values import cell, operand

_ROOT_TABLES: dict[Level, Any] = {
    Level.PROJECT: Project,
    Level.SUBJECT: Subject,
    Level.SESSION: Session,
    Level.SCAN: Scan,
}


@dataclass(frozen=True, slots=True)
class Column:
    header: str  # as XNAT names it in results: ``label``, ``xnat_subjectdata_subject_label``
    field: Field


@dataclass(frozen=True, slots=True)
class Result:
    title: str
    headers: list[str]
    rows: list[list[str]]


def run(ctx: Context, actor: Actor, search: Search) -> Result:
    """The rows of ``search`` that ``actor`` may read; 400 naming an unknown element,
    field or comparison, or a value that is not of its field's kind."""
    root = element(search.root)
    columns = resolve_columns(root, search.columns)
    with ctx.db.read() as db:
        statement = build(db, root, columns, actor).where(condition(db, root, search.where))
        of_type = typed_rows.condition(db, root)
        if of_type is not None:
            statement = statement.where(of_type)
        found = db.execute(statement).all()
    kinds = [c.field.kind for c in columns]
    rows = [[cell(value, kind) for value, kind in zip(row, kinds, strict=True)] for row in found]
    return Result(root.name, [c.header for c in columns], rows)


def resolve_columns(root: Element, refs: Sequence[FieldRef]) -> list[Column]:
    """The columns ``refs`` name (the root's defaults when none), each header once."""
    if not refs:
        refs = [FieldRef(root.name, name) for name in root.defaults]
    columns: dict[str, Column] = {}
    for ref in refs:
        owner = reachable(root, ref.element)
        found = owner.field(ref.field)
        header = found.id.lower()
        if owner.level != root.level:
            header = f"{owner.name.replace(':', '_').lower()}_{header}"
        columns.setdefault(header, Column(header, found))
    return list(columns.values())


def reachable(root: Element, name: str) -> Element:
    """The element ``name``, if a row of ``root`` has one value of each of its fields."""
    other = element(name)
    same_type = other.type_name is None or other is root
    if other.level > root.level or (other.level == root.level and not same_type):
        raise BadRequest(
            f"Fields of '{other.name}' cannot be used in a search of '{root.name}'.",
            field="element_name",
        )
    return other


def build(db: DBSession, root: Element, columns: Sequence[Column], actor: Actor) -> Select[Any]:
    """The rows of ``root``'s level with ``columns``, in projects ``actor`` may read."""
    table = _ROOT_TABLES[root.level]
    # Each column labelled by its place: two fields may be one expression (an unkept
    # field's NULL), and rows are read by place.
    labelled = (column_of(db, c.field).label(f"c{i}") for i, c in enumerate(columns))
    statement = select(*labelled).select_from(table)
    if root.level >= Level.SCAN:
        statement = statement.join(Session, Scan.session_id == Session.id)
    if root.level >= Level.SESSION:
        statement = statement.join(Subject, Session.subject_id == Subject.id)
        statement = statement.join(Project, Session.project_id == Project.id)
    elif root.level == Level.SUBJECT:
        statement = statement.join(Project, Subject.project_id == Project.id)
    # A project's name and description are for those who may see it; the rest is read.
    level = AccessLevel.SEE if root.level == Level.PROJECT else AccessLevel.READ
    allowed = permission_clause(actor, level)
    if root.level >= Level.SUBJECT:  # or shared into a project the actor may read
        allowed = or_(allowed, _shared_readable(root.level, actor))
    return statement.where(allowed).order_by(table.id)


def _shared_readable(level: Level, actor: Actor) -> ColumnElement[bool]:
    """SQL: the row's subject or session is shared into a project ``actor`` may read
    (docs/transfers.md: read there with that project's rules). Its project stays the
    owning one in the row."""
    if level == Level.SUBJECT:
        mine = and_(Share.kind == ShareKind.SUBJECT.value, Share.subject_id == Subject.id)
    else:
        mine = and_(Share.kind == ShareKind.SESSION.value, Share.session_id == Session.id)
    shared = (
        select(Share.id)
        .join(Project, Project.id == Share.project_id)
        .where(mine, permission_clause(actor, AccessLevel.READ))
        .correlate_except(Project, Share)
    )
    return shared.exists()


def condition(db: DBSession, root: Element, criteria: CriteriaSet) -> ColumnElement[bool]:
    """The SQL condition of a criteria set; an empty set matches every row.

    Under OR, equalities on one field become one ``IN``: pyxnat's ``Collection.where``
    sends one ``SUBJECT_ID =`` criterion per subject, thousands of them, and SQLite parses
    a chain of ORs into a tree it refuses past a depth of 1000."""
    parts: list[ColumnElement[bool]] = []
    alternatives: dict[tuple[Level, str], tuple[Field, list[Any]]] = {}
    for item in criteria.items:
        if isinstance(item, CriteriaSet):
            parts.append(condition(db, root, item))
            continue
        found = reachable(root, item.field.element).field(item.field.field)
        if criteria.method == Method.OR and _one_of_many(item, found):
            owner = element(item.field.element)
            value = operand(item.value, found.kind, str(item.field))
            alternatives.setdefault((owner.level, found.id), (found, []))[1].append(value)
        else:
            parts.append(compare(db, root, item))
    parts.extend(column_of(db, f).in_(values) for f, values in alternatives.values())
    if not parts:
        return true()
    return _joined(and_ if criteria.method == Method.AND else or_, parts)


def _one_of_many(criterion: Criterion, found: Field) -> bool:
    return criterion.comparison == Comparison.EQUAL and found.kind != Kind.WORDS


def _joined(
    how: Callable[..., ColumnElement[bool]], parts: list[ColumnElement[bool]], size: int = 100
) -> ColumnElement[bool]:
    """``parts`` joined by ``how``, in groups of ``size``: the parser's tree stays shallow
    however many parts there are. Each group is the argument of a function call, which
    SQLAlchemy keeps as written (it flattens nested groups of one operator), and
    ``coalesce(group, false)`` is the group wherever a condition is read as true or not."""
    while len(parts) > size:
        parts = [
            func.coalesce(how(*parts[i : i + size]), false()) for i in range(0, len(parts), size)
        ]
    return how(*parts)


def compare(db: DBSession, root: Element, criterion: Criterion) -> ColumnElement[bool]:
    ref = criterion.field
    found = reachable(root, ref.element).field(ref.field)
    column, kind, how = column_of(db, found), found.kind, criterion.comparison
    if how in (Comparison.IS_NULL, Comparison.IS_NOT_NULL):
        empty: ColumnElement[bool] = column.is_(None)
        if kind == Kind.STRING:
            empty = or_(empty, column == "")
        elif kind == Kind.WORDS:
            empty = or_(empty, cast(column, String).in_(["[]", ""]))
        return empty if how == Comparison.IS_NULL else ~empty
    if how in (Comparison.LIKE, Comparison.NOT_LIKE):
        pattern = criterion.value.replace("*", "%")
        text = column if kind == Kind.STRING else cast(column, String)
        like: ColumnElement[bool] = text.ilike(pattern)
        return like if how == Comparison.LIKE else and_(text.is_not(None), ~like)
    value = operand(criterion.value, kind, str(ref))
    if kind == Kind.WORDS:
        return _words(column, how, value, str(ref))
    return _ORDERED[how](column, value)


def _words(column: Any, how: Comparison, word: str, name: str) -> ColumnElement[bool]:
    """A list kept as JSON: = holds the word, != does not."""
    if how not in (Comparison.EQUAL, Comparison.NOT_EQUAL):
        raise BadRequest(f"{name} is a list of words: compare it with =, != or LIKE.")
    # The JSON text of the list holds the word as JSON writes it, quotes and escapes.
    holds: ColumnElement[bool] = cast(column, String).contains(json.dumps(word), autoescape=True)
    return holds if how == Comparison.EQUAL else ~holds


_ORDERED: dict[Comparison, Callable[[Any, Any], ColumnElement[bool]]] = {
    Comparison.EQUAL: lambda c, v: c == v,
    Comparison.NOT_EQUAL: lambda c, v: c != v,
    Comparison.LESS: lambda c, v: c < v,
    Comparison.LESS_OR_EQUAL: lambda c, v: c <= v,
    Comparison.GREATER: lambda c, v: c > v,
    Comparison.GREATER_OR_EQUAL: lambda c, v: c >= v,
}

__all__ = ["Column", "Result", "run"]
