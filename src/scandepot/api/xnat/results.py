"""Tables as XNAT answers them: the ResultSet in JSON, XML, CSV or HTML.

Every listing and search of the XNAT-compatible API is a :class:`Table` (columns in
order, rows of text) rendered here, so the formats cannot drift apart between routes:

- ``json``: ``{"ResultSet": {"Result": [{column: text}], "totalRecords": "N", "title": T}}``,
  every value a string (XNAT's listings give ``""`` for nothing);
- ``xml``: XNAT's ``<ResultSet>`` with ``<columns>`` and ``<rows>`` of ``<cell>``;
- ``csv``: a header line of the column names, then the rows;
- ``html``: a table, the default, as XNAT answers a browser or a bare curl.

``columns=`` chooses and orders the columns; a column the table does not have is a 400
naming it.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated
from xml.sax.saxutils import escape, quoteattr

from fastapi import Query
from starlette.responses import Response

from scandepot.errors import Invalid

FORMATS = ("json", "xml", "csv", "html")
FormatQuery = Annotated[
    str | None, Query(alias="format", description="json, xml, csv or html (the default)")
]
ColumnsQuery = Annotated[
    str | None, Query(max_length=4000, description="Columns to answer, comma-separated")
]

Cell = str | int | float | None


def text(value: Cell) -> str:
    """A cell as XNAT writes it: nothing is the empty string."""
    if value is None:
        return ""
    return str(value)


@dataclass(slots=True)
class Table:
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    title: str = ""
    total: int | None = None  # rows matched, when the table holds a page of them

    @classmethod
    def of(
        cls, columns: Sequence[str], records: Iterable[Mapping[str, Cell]], title: str = ""
    ) -> Table:
        rows = [[text(r.get(c)) for c in columns] for r in records]
        return cls(list(columns), rows, title)

    def select(self, wanted: str | None) -> Table:
        """The table with the columns ``wanted`` names (comma-separated), in that order."""
        if not wanted:
            return self
        names = [w.strip() for w in wanted.split(",") if w.strip()]
        index = {c.lower(): i for i, c in enumerate(self.columns)}
        missing = [n for n in names if n.lower() not in index]
        if missing:
            raise Invalid(f"Unknown column: {', '.join(missing)}.", field="columns")
        picks = [index[n.lower()] for n in names]
        return Table(
            [self.columns[i] for i in picks],
            [[row[i] for i in picks] for row in self.rows],
            self.title,
            self.total,
        )


def check_format(value: str | None, default: str = "html") -> str:
    fmt = (value or default).lower()
    if fmt not in FORMATS:
        raise Invalid(f"Unknown format '{value}': use json, xml, csv or html.", field="format")
    return fmt


def render(table: Table, fmt: str | None, *, columns: str | None = None) -> Response:
    """``table`` in the format asked (``html`` when none is)."""
    chosen = check_format(fmt)
    table = table.select(columns)
    if chosen == "json":
        return Response(as_json(table), media_type="application/json")
    if chosen == "csv":
        return Response(as_csv(table), media_type="text/csv; charset=utf-8")
    if chosen == "xml":
        return Response(as_xml(table), media_type="text/xml; charset=utf-8")
    return Response(as_html(table), media_type="text/html; charset=utf-8")


def as_json(table: Table) -> bytes:
    result = [dict(zip(table.columns, row, strict=True)) for row in table.rows]
    total = table.total if table.total is not None else len(result)
    body = {"ResultSet": {"Result": result, "totalRecords": str(total), "title": table.title}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def as_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return out.getvalue().encode()


def as_xml(table: Table) -> bytes:
    total = table.total if table.total is not None else len(table.rows)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<ResultSet xmlns="http://nrg.wustl.edu/xe" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'totalRecords="{total}" title={quoteattr(table.title)}>\n<results>\n<columns>\n',
    ]
    parts.extend(f"<column>{escape(c)}</column>\n" for c in table.columns)
    parts.append("</columns>\n<rows>\n")
    for row in table.rows:
        parts.append("<row>\n")
        parts.extend(f"<cell>{escape(v)}</cell>\n" for v in row)
        parts.append("</row>\n")
    parts.append("</rows>\n</results>\n</ResultSet>\n")
    return "".join(parts).encode()


def as_html(table: Table) -> bytes:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>\n"
        for row in table.rows
    )
    title = html.escape(table.title)
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><table border='1'>\n<tr>{head}</tr>\n{body}</table></body></html>\n"
    ).encode()
