"""What every XNAT listing of archived objects shares: the columns it answers.

A listing knows how to make each of its columns from a row; only the columns asked for
(or the default ones) are made, so a listing of 5,000 rows costs what its columns cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from starlette.responses import Response

from scandepot.api.xnat.results import Cell, Table, check_format, render
from scandepot.errors import Invalid

R = TypeVar("R")


def requested(columns: str | None, default: Sequence[str]) -> list[str]:
    """The columns ``columns=`` names, as the caller wrote them; ``default`` without it or
    with ``DEFAULT`` (what xnatpy's ``tabulate`` sends). ``URI`` comes with whatever is
    asked, as XNAT adds it (pyxnat reads it from every row, even when it asked for
    ``ID,xsiType`` alone)."""
    names = [c.strip() for c in (columns or "").split(",") if c.strip()]
    if not names or [n.upper() for n in names] == ["DEFAULT"]:
        return list(default)
    if "uri" not in (n.lower() for n in names):
        names.append("URI")
    return names


def listing(
    rows: Iterable[R],
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
    names = requested(columns, default)
    chosen: list[Callable[[R], Cell]] = []
    missing: list[str] = []
    for name in names:
        key = name.lower()
        key = next((key[len(r) :] for r in roots if key.startswith(r)), key)
        make = by_name.get(key)
        if make is None:
            missing.append(name)
        else:
            chosen.append(make)
    if missing:
        raise Invalid(f"Unknown column: {', '.join(missing)}.", field="columns")
    table = Table(names, [[_text(make(row)) for make in chosen] for row in rows], title)
    return render(table, fmt)


def _text(value: Cell) -> str:
    return "" if value is None else str(value)
