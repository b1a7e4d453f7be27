"""Scans of an experiment: ``.../scans[/{id}]`` under each of the experiment's paths.

A listing is the session's scans in one query; one scan is its ``items`` JSON or its XML
document. ``PUT`` creates a scan (201 and its ID) or changes one (200 and its ID) through
:mod:`scandepot.archive.scans`; ``DELETE`` removes it with its files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.api.xnat import datatypes, experiment_docs, session_types
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.experiment_fields import scan_fields, validated
from scandepot.api.xnat.experiment_paths import Place, resolve
from scandepot.api.xnat.experiments import single_format
from scandepot.api.xnat.items import respond
from scandepot.api.xnat.listings import listing
from scandepot.api.xnat.results import Cell, ColumnsQuery, FormatQuery
from scandepot.archive import scans, sessions
from scandepot.archive.scans import ScanCreate, ScanFields
from scandepot.catalog.archive import Scan
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid, NotFound
from scandepot.http.deps import CtxDep

router = APIRouter()

MAKERS: dict[str, Callable[[Scan], Cell]] = {
    "xnat_imagescandata_id": lambda s: s.id,
    "ID": lambda s: s.label,
    "type": lambda s: s.type,
    "quality": lambda s: s.quality,
    "xsiType": experiment_docs.scan_xsi_type,
    "note": lambda s: s.note or None,
    "series_description": lambda s: s.SeriesDescription,
    "URI": lambda s: f"/data/experiments/{s.session.stable_id}/scans/{s.label}",
    "frames": lambda s: s.frames,
    "UID": lambda s: s.SeriesInstanceUID,
    "modality": lambda s: s.Modality,
    "bodyPartExamined": lambda s: s.BodyPartExamined,
    "image_session_ID": lambda s: s.session.stable_id,
    "project": lambda s: s.session.project.label,
}
COLUMNS = list(MAKERS)[:8]

# The three path forms of an experiment, each with ``/scans`` below it.
EXPERIMENT_PATHS = {
    "project": "/projects/{project}/experiments/{experiment}",
    "subject": "/projects/{project}/subjects/{subject}/experiments/{experiment}",
    "site": "/experiments/{experiment}",
}


def _place(params: dict[str, Any]) -> Place:
    return Place(params["experiment"], params.get("project"), params.get("subject"))


def list_scans(
    ctx: Context,
    actor: Actor,
    place: Place,
    fmt: str | None,
    columns: str | None,
    xsi_type: str | None,
) -> Response:
    found = resolve(ctx, actor, place)
    assert found.session is not None
    kept = session_types.listed_scans(xsi_type)
    rows = [
        s
        for s in scans.all_of(ctx, actor, found.project, found.session)
        if kept is None or experiment_docs.scan_xsi_type(s).lower() in kept
    ]
    return listing(rows, MAKERS, COLUMNS, fmt=fmt, columns=columns, title="Scans", types=TYPES)


TYPES = (*datatypes.SCAN_TYPES, session_types.ANY_SCAN)


def get_scan(ctx: Context, actor: Actor, place: Place, scan: str, fmt: str | None) -> Response:
    chosen = single_format(fmt)
    found = resolve(ctx, actor, place)
    assert found.session is not None
    one = scans.get(ctx, actor, found.project, found.session, scan)
    if chosen == "json":
        return respond(experiment_docs.scan_item(one))
    return Response(experiment_docs.scan_xml(one), media_type="text/xml; charset=utf-8")


def put_scan(ctx: Context, actor: Actor, place: Place, scan: str, request: Request) -> Response:
    found = resolve(ctx, actor, place)
    assert found.session is not None
    sessions.check(ctx, actor, found.project, Action.EDIT, found.session)
    parsed = scan_fields(request.query_params.multi_items())
    xsi_type = request.query_params.get("xsiType")
    modality = session_types.scan_modality(xsi_type) if xsi_type else None
    given_project = parsed.place.get("project")
    if given_project is not None and given_project.lower() != found.project.lower():
        raise Invalid("Project must be modified through separate URI.", field="project")
    try:
        existing = scans.get(ctx, actor, found.project, found.session, scan)
    except NotFound:
        existing = None
    if existing is not None:
        _check_session(parsed.place, existing.session.stable_id)
        current = experiment_docs.scan_xsi_type(existing)
        if xsi_type and xsi_type.lower() != current.lower():
            raise Conflict(
                f"Scan '{existing.label}' exists as {current}, not {xsi_type}.", field="xsiType"
            )
        fields = validated(ScanFields, parsed.values, parsed.names)
        changed = scans.update(ctx, actor, found.project, found.session, scan, fields)
        return PlainTextResponse(changed.label, status_code=200)
    if not xsi_type:
        raise Invalid("xsiType is needed to create a scan.", field="xsiType")
    _check_session(parsed.place, sessions.get(ctx, actor, found.project, found.session).stable_id)
    values = {k: v for k, v in parsed.values.items() if v is not None}
    values.setdefault("id", scan)
    if modality is not None:
        values.setdefault("Modality", modality)
    created = scans.create(
        ctx, actor, found.project, found.session, validated(ScanCreate, values, parsed.names)
    )
    return PlainTextResponse(created.label, status_code=201)


def _check_session(place: dict[str, str], session_id: str) -> None:
    given = place.get("image_session_id")
    if given is not None and given != session_id:
        raise Invalid("image_session_ID cannot be changed: it is the scan's session.", field=given)


def delete_scan(ctx: Context, actor: Actor, place: Place, scan: str) -> Response:
    found = resolve(ctx, actor, place)
    assert found.session is not None
    scans.delete(ctx, actor, found.project, found.session, scan)
    return Response(status_code=200)


def _routes(base: str) -> None:
    """The scan routes below one path form of an experiment."""

    def listing(
        ctx: CtxDep,
        actor: XnatActorDep,
        request: Request,
        format: FormatQuery = None,
        columns: ColumnsQuery = None,
        xsiType: str | None = None,
    ) -> Response:
        return list_scans(ctx, actor, _place(request.path_params), format, columns, xsiType)

    def one(
        ctx: CtxDep, actor: XnatActorDep, request: Request, scan: str, format: FormatQuery = None
    ) -> Response:
        return get_scan(ctx, actor, _place(request.path_params), scan, format)

    def put(ctx: CtxDep, actor: XnatActorDep, request: Request, scan: str) -> Response:
        return put_scan(ctx, actor, _place(request.path_params), scan, request)

    def delete(
        ctx: CtxDep,
        actor: XnatActorDep,
        request: Request,
        scan: str,
        removeFiles: str | None = None,
    ) -> Response:
        return delete_scan(ctx, actor, _place(request.path_params), scan)

    handlers: list[tuple[str, str, Callable[..., Response]]] = [
        ("GET", f"{base}/scans", listing),
        ("GET", f"{base}/scans/{{scan}}", one),
        ("PUT", f"{base}/scans/{{scan}}", put),
        ("DELETE", f"{base}/scans/{{scan}}", delete),
    ]
    for method, path, handler in handlers:
        router.add_api_route(path, handler, methods=[method])


for _base in EXPERIMENT_PATHS.values():
    _routes(_base)
