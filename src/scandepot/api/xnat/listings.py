"""Listings of experiments and scans: their columns named by field or by XPath under any of
their types (:mod:`scandepot.api.xnat.columns` chooses them and makes the table).

A listing knows how to make each of its columns from a row; only the columns asked for
(or the default ones) are made, so a listing of 5,000 rows costs what its columns cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from starlette.responses import Response

from scandepot.api.xnat import columns as chosen
from scandepot.api.xnat.results import Cell, check_format, render

R = TypeVar("R")


def listing(
    rows: Sequence[R],
    makers: Mapping[str, Callable[[R], Cell]],
    default: Sequence[str],
    *,
    fmt: str | None,
    columns: str | None,
    title: str,
    types: Iterable[str] = (),
) -> Response:
    """The table of ``rows`` with the columns ``columns=`` names (``default`` without it),
    each cell made by its column's maker. A column is named by its field's name or by
    its XPath under one of ``types`` (``xnat:mrSessionData/date``, as pyxnat asks), in
    any case; the header is the name as written. An unknown column is a 400 naming it."""
    check_format(fmt)
    by_name = {name.lower(): make for name, make in makers.items()}
    roots = tuple(f"{t.lower()}/" for t in types)

    def resolve(name: str) -> Callable[[R], Cell] | None:
        key = name.lower()
        key = next((key[len(r) :] for r in roots if key.startswith(r)), key)
        return by_name.get(key)

    table = chosen.table(rows, resolve, default=default, wanted=columns, title=title)
    return render(table, fmt)
