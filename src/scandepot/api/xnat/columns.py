"""Listings whose columns a caller chooses by XNAT's names: ``columns=ID,label,gender``,
or by XPath into the data type (``xnat:subjectData/fields/field[name=x]/field``).

A listing gives a resolver that turns a requested name into a getter of its rows; the
table's header is each name as the caller wrote it (pyxnat finds its column by that
name). ``columns=DEFAULT`` (what xnatpy's ``tabulate`` sends) or none gives the default
columns; a name the resolver does not know is a 400 naming it. ``URI`` comes with every
choice, as XNAT adds it (pyxnat reads it from tables it asked without it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TypeVar

from scandepot.api.xnat.results import Cell, Table, text
from scandepot.errors import Invalid

Row = TypeVar("Row")
Getter = Callable[[Row], Cell]


def requested(wanted: str | None, default: Sequence[str]) -> list[str]:
    names = [w.strip() for w in (wanted or "").split(",") if w.strip()]
    if not names or [n.upper() for n in names] == ["DEFAULT"]:
        return list(default)
    if "uri" not in {n.lower() for n in names} and "URI" in default:
        names.append("URI")
    return names


def table(
    records: Sequence[Row],
    resolve: Callable[[str], Getter[Row] | None],
    *,
    default: Sequence[str],
    wanted: str | None,
    title: str,
) -> Table:
    names = requested(wanted, default)
    getters: list[Getter[Row]] = []
    missing: list[str] = []
    for name in names:
        getter = resolve(name)
        if getter is None:
            missing.append(name)
        else:
            getters.append(getter)
    if missing:
        raise Invalid(f"Unknown column: {', '.join(missing)}.", field="columns")
    rows = [[text(get(record)) for get in getters] for record in records]
    return Table(names, rows, title)


def insert_date(value: dt.datetime) -> str:
    """A creation time as XNAT lists it: ``2024-05-01 13:14:15.123``, UTC."""
    return value.isoformat(" ", "milliseconds")[:23]  # strftime takes 4 times as long


def strip_type(name: str, xsi_type: str) -> str:
    """``xnat:subjectData/label`` -> ``label``; names without the type stay as they are."""
    prefix = xsi_type.lower() + "/"
    return name[len(prefix) :] if name.lower().startswith(prefix) else name
