"""What every XNAT listing of archived objects shares: the columns it answers.

A listing knows how to make each of its columns from a row; only the columns asked for
(or the default ones) are made, so a listing of 5,000 rows costs what its columns cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from starlette.responses import Response

from scandepot.api.xnat.results import Cell, Table, render

R = TypeVar("R")


def with_uri(columns: str | None) -> str | None:
    """``columns=`` as XNAT answers it: the ``URI`` column comes with whatever is asked
    (pyxnat reads it from every row, even when it asked for ``ID,xsiType`` alone)."""
    if not columns:
        return columns
    names = [c.strip() for c in columns.split(",") if c.strip()]
    if "uri" not in (n.lower() for n in names):
        names.append("URI")
    return ",".join(names)


def listing(
    rows: Iterable[R],
    makers: Mapping[str, Callable[[R], Cell]],
    default: Sequence[str],
    *,
    fmt: str | None,
    columns: str | None,
    title: str,
) -> Response:
    """The table of ``rows`` with the columns ``columns=`` names (``default`` without it),
    each cell made by its column's maker; an unknown column is a 400 naming it."""
    names = Table(list(makers)).select(with_uri(columns) or ",".join(default)).columns
    chosen = [makers[name] for name in names]
    table = Table(names, [[_text(make(row)) for make in chosen] for row in rows], title)
    return render(table, fmt)


def _text(value: Cell) -> str:
    return "" if value is None else str(value)
