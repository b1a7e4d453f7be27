"""QIDO-RS (PS3.18 §10.6): searches for studies, series and instances, in every path form,
answered in ``application/dicom+json``. The engine is :mod:`scandepot.query`; here the
request is read and the answer shaped: each result's Retrieve URL points at the root the
search came in on; no match is 200 with an empty array (CP-2473 corrects PS3.18
§8.3.4.4.1's 204 to that); a page that leaves matches behind says so in a Warning header.
docs/dicomweb.md is the conformance statement."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from scandepot.api.dicomweb.deps import ReadScope
from scandepot.errors import NotAcceptable
from scandepot.http.deps import CtxDep
from scandepot.query.attributes import Level
from scandepot.query.params import qido
from scandepot.query.results import to_json
from scandepot.query.search import Page

router = APIRouter(tags=["dicomweb"])

DICOM_JSON = "application/dicom+json"
_ACCEPTED = {DICOM_JSON, "application/json", "application/*", "*/*"}
_RETRIEVE_URL = "00081190"


def _acceptable(accept: str | None) -> None:
    """Raise :class:`NotAcceptable` unless ``accept`` takes DICOM JSON (no header: any)."""
    if not accept or not accept.strip():
        return
    for item in accept.split(","):
        kind, *options = (part.strip() for part in item.split(";"))
        refused = any(o.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for o in options)
        if kind.lower() in _ACCEPTED and not refused:
            return
    raise NotAcceptable(
        f"Search results are sent as {DICOM_JSON} only; the request accepts {accept!r}."
    )


def _root(request: Request) -> str:
    project = request.path_params.get("project")
    base = str(request.base_url).rstrip("/") + "/dicomweb"
    return base if project is None else f"{base}/projects/{quote(project, safe='')}"


def _url(root: str, result: dict[str, Any], level: Level) -> str:
    def uid(tag: str) -> str:
        return str(result.get(tag, {}).get("Value", [""])[0])

    url = f"{root}/studies/{uid('0020000D')}"
    if level in (Level.SERIES, Level.IMAGE):
        url += f"/series/{uid('0020000E')}"
    if level == Level.IMAGE:
        url += f"/instances/{uid('00080018')}"
    return url


def _answer(request: Request, found: Page, level: Level) -> Response:
    root = _root(request)
    body = []
    for ds in found.results:
        result = to_json(ds)
        result[_RETRIEVE_URL] = {"vr": "UR", "Value": [_url(root, result, level)]}
        body.append(result)
    headers = {}
    if found.more:
        headers["Warning"] = f"299 {root}: There are additional results that can be requested"
    return JSONResponse(body, media_type=DICOM_JSON, headers=headers)


def _search(
    request: Request,
    ctx: CtxDep,
    scope: ReadScope,
    level: Level,
    study: str | None = None,
    series: str | None = None,
) -> Response:
    _acceptable(request.headers.get("accept"))
    params = list(request.query_params.multi_items())
    found = qido(ctx, scope, level, params, study=study, series=series)
    return _answer(request, found, level)


@router.head("/studies", include_in_schema=False)
@router.get("/studies")
def search_studies(request: Request, ctx: CtxDep, scope: ReadScope) -> Response:
    return _search(request, ctx, scope, Level.STUDY)


@router.head("/series", include_in_schema=False)
@router.get("/series")
def search_series(request: Request, ctx: CtxDep, scope: ReadScope) -> Response:
    return _search(request, ctx, scope, Level.SERIES)


@router.head("/instances", include_in_schema=False)
@router.get("/instances")
def search_instances(request: Request, ctx: CtxDep, scope: ReadScope) -> Response:
    return _search(request, ctx, scope, Level.IMAGE)


@router.head("/studies/{study}/series", include_in_schema=False)
@router.get("/studies/{study}/series")
def search_study_series(request: Request, ctx: CtxDep, scope: ReadScope, study: str) -> Response:
    return _search(request, ctx, scope, Level.SERIES, study)


@router.head("/studies/{study}/instances", include_in_schema=False)
@router.get("/studies/{study}/instances")
def search_study_instances(request: Request, ctx: CtxDep, scope: ReadScope, study: str) -> Response:
    return _search(request, ctx, scope, Level.IMAGE, study)


@router.head("/studies/{study}/series/{series}/instances", include_in_schema=False)
@router.get("/studies/{study}/series/{series}/instances")
def search_series_instances(
    request: Request, ctx: CtxDep, scope: ReadScope, study: str, series: str
) -> Response:
    return _search(request, ctx, scope, Level.IMAGE, study, series)
