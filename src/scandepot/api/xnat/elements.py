"""``/data/search/elements``: the data types a search can ask for, and their fields.

xnatpy reads both on connect (``search.inject_search_fields``), pyxnat's ``inspect``
when asked. Neither answer depends on what the caller may see: they name types and
fields, not objects, so they carry no counts.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from scandepot.api.xnat import datatypes
from scandepot.api.xnat.results import ColumnsQuery, FormatQuery, Table, render
from scandepot.errors import NotFound

router = APIRouter(prefix="/search/elements")

ELEMENT_COLUMNS = ["ELEMENT_NAME", "SINGULAR", "PLURAL", "SECURED", "BROWSEABLE"]
FIELD_COLUMNS = ["FIELD_ID", "HEADER", "SUMMARY", "TYPE", "REQUIRES_VALUE", "DESC", "ELEMENT_NAME"]


@router.get("")
def elements(fmt: FormatQuery = None, columns: ColumnsQuery = None) -> Response:
    rows = [
        {
            "ELEMENT_NAME": e.name,
            "SINGULAR": e.singular,
            "PLURAL": e.plural,
            "SECURED": "true",
            "BROWSEABLE": "true",
        }
        for e in datatypes.ELEMENTS
    ]
    return render(Table.of(ELEMENT_COLUMNS, rows, "elements"), fmt, columns=columns)


@router.get("/{name}")
def element_fields(name: str, fmt: FormatQuery = None, columns: ColumnsQuery = None) -> Response:
    found = datatypes.element(name)
    if found is None:
        raise NotFound(f"Unknown data type '{name}'.", field="element")
    rows = [
        {
            "FIELD_ID": f.id,
            "HEADER": f.header,
            "SUMMARY": f.description or f.header,
            "TYPE": f.type,
            "REQUIRES_VALUE": "false",
            "DESC": f.description,
            "ELEMENT_NAME": found.name,
        }
        for f in found.fields
    ]
    return render(Table.of(FIELD_COLUMNS, rows, found.name), fmt, columns=columns)
