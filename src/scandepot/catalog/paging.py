"""Paging, sorting and wildcard filters shared by every listing (the services' queries)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.errors import Invalid

T = TypeVar("T")

MAX_LIMIT = 1000
MAX_OFFSET = 2**63 - 1  # OFFSET is a signed 64-bit integer in SQLite and PostgreSQL


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 100
    offset: int = 0
    sort: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise Invalid(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise Invalid(f"offset must be between 0 and {MAX_OFFSET}.", field="offset")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    limit: int
    offset: int


def order_by(
    sort: str | None, fields: Mapping[str, SQLColumnExpression[Any]], default: str
) -> list[ColumnElement[Any]]:
    """``sort`` is a comma-separated list of field names, each with '-' for descending."""
    order: list[ColumnElement[Any]] = []
    for raw in (sort or default).split(","):
        name = raw.strip()
        descending = name.startswith("-")
        name = name.lstrip("-")
        if name not in fields:
            allowed = ", ".join(sorted(fields))
            raise Invalid(f"Cannot sort by '{name}'; choose from: {allowed}.", field="sort")
        column = fields[name]
        order.append(column.desc() if descending else column.asc())
    return order


def paginate(
    db: DBSession,
    stmt: Select[Any],
    page: PageRequest,
    *,
    sort_fields: Mapping[str, SQLColumnExpression[Any]],
    default_sort: str,
    tiebreak: SQLColumnExpression[Any],
) -> Page[Any]:
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    ordered = stmt.order_by(*order_by(page.sort, sort_fields, default_sort), tiebreak)
    rows = db.execute(ordered.limit(page.limit).offset(page.offset)).all()
    items = [row[0] if len(row) == 1 else row for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


def like(column: SQLColumnExpression[Any], pattern: str) -> ColumnElement[bool]:
    """Match ``pattern``, ignoring case, where ``*`` stands for any run of characters;
    nothing else is special. (ILIKE on PostgreSQL, lower() LIKE lower() on SQLite.)"""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(escaped.replace("*", "%"), escape="\\")
