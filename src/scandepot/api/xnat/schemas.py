"""``/xapi/schemas``: the XSD documents from which xnatpy builds its classes.

``xnat`` declares the data types served (``xsd/xnat.xsd``, written for scandepot under
XNAT's names); ``xdat`` declares none and is there because xnatpy asks for it when it
reads only XNAT's default schemas (``extension_types=False``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from starlette.responses import Response

from scandepot.errors import NotFound

SCHEMAS = ("xnat", "xdat")
# The list clients read to know which schemas to fetch: xdat declares nothing to build.
LISTED = ["xnat"]

router = APIRouter(prefix="/xapi/schemas", tags=["XNAT-compatible"])


@cache
def document(name: str) -> bytes:
    return resources.files("scandepot.api.xnat").joinpath(f"xsd/{name}.xsd").read_bytes()


@router.get("")
def schema_list() -> list[str]:
    return LISTED


@router.get("/{name}")
def schema(name: str) -> Response:
    if name not in SCHEMAS:
        raise NotFound(f"Schema '{name}' not found.", field="schema")
    return Response(document(name), media_type="application/xml")
