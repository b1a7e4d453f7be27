"""Keyset paging: a page that starts after the last row of the one before, found through
the sort's index, however deep into the listing it is (an offset reads and drops every
row it skips).

A cursor is opaque to clients: the sort it belongs to and the last row's values of each
sort key (the listing's tiebreak last, so that no two rows share a cursor), in URL-safe
base64 of JSON. A cursor of another sort, or one that does not decode, is refused. A cursor is a
position in a sort, nothing more: given to another listing with the same sort, it gives
that listing's rows after the position, which the asker may read anyway.

Rows after a cursor are those that sort after it in the order the database itself
gives, NULLs included: PostgreSQL sorts NULL above every value, SQLite below.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, false, or_, true, tuple_
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from scandepot.errors import Invalid

Key = tuple[SQLColumnExpression[Any], bool]  # a sort column, and whether it descends

MAX_CURSOR = 4096  # characters: a cursor holds a handful of values


def key(expression: SQLColumnExpression[Any]) -> Key:
    """The sort key of an ORDER BY term: ``x.desc()`` is x descending, ``x`` ascending."""
    if isinstance(expression, UnaryExpression) and expression.modifier in (
        operators.desc_op,
        operators.asc_op,
    ):
        return expression.element, expression.modifier is operators.desc_op
    return expression, False


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def encode(sort: str, values: Sequence[Any]) -> str:
    raw = json.dumps({"s": sort, "v": [_plain(v) for v in values]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad() -> Invalid:
    return Invalid("after is not a cursor of this listing and sort.", field="after")


def _python_type(sql_type: Any) -> type | None:
    """The Python type of a column's values; a TypeDecorator's is its implementation's."""
    for candidate in (sql_type, getattr(sql_type, "impl", None)):
        if candidate is None:
            continue
        try:
            kind = candidate.python_type
        except (AttributeError, NotImplementedError):
            continue
        if kind is not object:
            return kind  # type: ignore[no-any-return]
    return None


def _typed(column: SQLColumnExpression[Any], value: Any) -> Any:
    """``value`` from JSON as the column's Python type (dates come back as text)."""
    if value is None:
        return None
    kind = _python_type(getattr(column, "type"))  # noqa: B009 - every SQL expression has one
    try:
        if kind is dt.datetime:
            return dt.datetime.fromisoformat(value)
        if kind is dt.date:
            return dt.date.fromisoformat(value)
        if kind is int and not isinstance(value, bool):
            return int(value)
    except (TypeError, ValueError):
        raise _bad() from None
    if kind is str and not isinstance(value, str):
        raise _bad()
    return value


def decode(cursor: str, sort: str, keys: Sequence[Key]) -> list[Any]:
    """The values a cursor holds, one per key; Invalid for anything else."""
    if len(cursor) > MAX_CURSOR:
        raise _bad()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        held = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad() from None
    if not isinstance(held, dict) or held.get("s") != sort:
        raise _bad()
    values = held.get("v")
    if not isinstance(values, list) or len(values) != len(keys):
        raise _bad()
    return [_typed(column, value) for (column, _), value in zip(keys, values, strict=True)]


def _after_one(
    column: SQLColumnExpression[Any], descending: bool, value: Any, nulls_high: bool
) -> ColumnElement[bool]:
    nulls_last = nulls_high != descending
    if value is None:
        return false() if nulls_last else column.is_not(None)
    beyond = column < value if descending else column > value
    return or_(beyond, column.is_(None)) if nulls_last else beyond


def _nullable(column: SQLColumnExpression[Any]) -> bool:
    """Whether the column may hold NULL (an expression other than a column may)."""
    return bool(getattr(getattr(column, "expression", column), "nullable", True))


def _equal(column: SQLColumnExpression[Any], value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def after(keys: Sequence[Key], values: Sequence[Any], *, nulls_high: bool) -> ColumnElement[bool]:
    """Rows that sort after ``values`` by ``keys``: after on the first key, or equal on it
    and after on the next, and so on."""
    one_way = len({d for _, d in keys}) == 1
    if one_way and None not in values and not any(_nullable(c) for c, _ in keys):
        # One row comparison: what a composite index answers directly.
        left, right = tuple_(*(c for c, _ in keys)), tuple_(*values)
        return left < right if keys[0][1] else left > right
    either: list[ColumnElement[bool]] = []
    same: list[ColumnElement[bool]] = []
    for (column, descending), value in zip(keys, values, strict=True):
        either.append(and_(true(), *same, _after_one(column, descending, value, nulls_high)))
        same.append(_equal(column, value))
    return or_(*either)
