"""Paging, sorting and wildcard filters shared by every listing (the services' queries)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog import keyset
from scandepot.errors import Invalid

T = TypeVar("T")
U = TypeVar("U")

MAX_LIMIT = 1000
MAX_OFFSET = 2**63 - 1  # OFFSET is a signed 64-bit integer in SQLite and PostgreSQL


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 100
    offset: int = 0
    sort: str | None = None
    after: str | None = None  # a cursor: the page after the row it names (catalog/keyset.py)

    def __post_init__(self) -> None:
        if self.after is not None and self.offset:
            raise Invalid("Give after or offset, not both.", field="after")
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
    next: str | None = None  # the cursor of the page after this one, when it is full

    def with_items(self, items: Sequence[U]) -> Page[U]:
        """This page with its rows made into ``items`` (views of them)."""
        return Page(
            items=items, total=self.total, limit=self.limit, offset=self.offset, next=self.next
        )


def sort_keys(
    sort: str | None, fields: Mapping[str, SQLColumnExpression[Any]], default: str
) -> list[keyset.Key]:
    """``sort`` is a comma-separated list of field names, each with '-' for descending:
    the columns it names, each with whether it descends."""
    keys: list[keyset.Key] = []
    for raw in (sort or default).split(","):
        name = raw.strip()
        descending = name.startswith("-")
        name = name.lstrip("-")
        if name not in fields:
            allowed = ", ".join(sorted(fields))
            raise Invalid(f"Cannot sort by '{name}'; choose from: {allowed}.", field="sort")
        keys.append((fields[name], descending))
    return keys


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
    sort = page.sort or default_sort
    keys = [*sort_keys(sort, sort_fields, default_sort), keyset.key(tiebreak)]
    width = len(stmt.column_descriptions)  # entities and columns, as rows hold them
    ordered = stmt.add_columns(*(c for c, _ in keys)).order_by(
        *(c.desc() if d else c.asc() for c, d in keys)
    )
    if page.after is not None:
        values = keyset.decode(page.after, sort, keys)
        nulls_high = db.get_bind().dialect.name == "postgresql"
        ordered = ordered.where(keyset.after(keys, values, nulls_high=nulls_high))
    rows = db.execute(ordered.limit(page.limit).offset(page.offset)).all()
    items = [row[0] if width == 1 else tuple(row[:width]) for row in rows]
    following = keyset.encode(sort, rows[-1][width:]) if len(rows) == page.limit else None
    return Page(items=items, total=total, limit=page.limit, offset=page.offset, next=following)


def like(column: SQLColumnExpression[Any], pattern: str) -> ColumnElement[bool]:
    """Match ``pattern``, ignoring case, where ``*`` stands for any run of characters;
    nothing else is special. (ILIKE on PostgreSQL, lower() LIKE lower() on SQLite.)"""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(escaped.replace("*", "%"), escape="\\")
