"""Experiments (scandepot's sessions): ``/projects/{p}/experiments[/{e}]``,
``/projects/{p}/subjects/{s}/experiments[/{e}]`` and ``/experiments[/{id}]``.

Listings are one query each (:mod:`scandepot.archive.session_rows`); one experiment is
its ``items`` JSON or its XML document with its scans. ``PUT`` creates a session (201 and
its ID) or changes one (200 and its ID) through :mod:`scandepot.archive.sessions`;
``DELETE`` removes it with its files.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.api.xnat import datatypes, experiment_docs, session_types
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.experiment_fields import session_fields, validated
from scandepot.api.xnat.experiment_paths import Place, not_found, resolve, subject_label
from scandepot.api.xnat.experiment_paths import find as find_session
from scandepot.api.xnat.items import respond
from scandepot.api.xnat.listings import listing
from scandepot.api.xnat.results import Cell, ColumnsQuery, FormatQuery
from scandepot.archive import scans, session_rows, sessions
from scandepot.archive.session_rows import SessionRow
from scandepot.archive.sessions import SessionCreate, SessionFields
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid
from scandepot.http.deps import CtxDep

router = APIRouter()


# Each column of a listing, made from a row; COLUMNS are answered without ``columns=``.
MAKERS: dict[str, Callable[[SessionRow], Cell]] = {
    "ID": lambda r: r.id,
    "project": lambda r: r.project,
    "date": lambda r: r.date.isoformat() if r.date is not None else None,
    "xsiType": lambda r: session_types.session_type(r.modality),
    "label": lambda r: r.label,
    "insert_date": lambda r: r.created_at[:23],  # to the millisecond, as XNAT lists it
    "subject_ID": lambda r: r.subject_id,
    "subject_label": lambda r: r.subject_label,
    "URI": lambda r: f"/data/experiments/{r.id}",
    "time": lambda r: experiment_docs.xnat_time(r.time),
    "modality": lambda r: r.modality,
    "UID": lambda r: r.StudyInstanceUID,
    "session_type": lambda r: r.StudyDescription,
    "note": lambda r: r.note or None,
}
COLUMNS = list(MAKERS)[:9]


def _table(
    rows: list[SessionRow], fmt: str | None, columns: str | None, xsi_type: str | None
) -> Response:
    kept = session_types.listed_sessions(xsi_type)
    if kept is not None:
        rows = [r for r in rows if session_types.session_type(r.modality).lower() in kept]
    return listing(
        rows, MAKERS, COLUMNS, fmt=fmt, columns=columns, title="Experiments", types=TYPES
    )


# The types whose XPath may name a column (``xnat:mrSessionData/date``).
TYPES = (*datatypes.SESSION_TYPES, *session_types.ANY_SESSION)


@router.get("/projects/{project}/experiments")
def list_project_experiments(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    format: FormatQuery = None,
    columns: ColumnsQuery = None,
    xsiType: str | None = None,
) -> Response:
    return _table(session_rows.in_project(ctx, actor, project), format, columns, xsiType)


@router.get("/projects/{project}/subjects/{subject}/experiments")
def list_subject_experiments(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    subject: str,
    format: FormatQuery = None,
    columns: ColumnsQuery = None,
    xsiType: str | None = None,
) -> Response:
    rows = session_rows.in_project(
        ctx, actor, project, subject=subject_label(ctx, actor, project, subject)
    )
    return _table(rows, format, columns, xsiType)


@router.get("/experiments")
def list_site_experiments(
    ctx: CtxDep,
    actor: XnatActorDep,
    format: FormatQuery = None,
    columns: ColumnsQuery = None,
    xsiType: str | None = None,
) -> Response:
    return _table(session_rows.on_site(ctx, actor), format, columns, xsiType)


def single_format(value: str | None) -> str:
    """One object is XML unless JSON is asked for, as in XNAT."""
    fmt = (value or "xml").lower()
    if fmt not in ("json", "xml"):
        raise Invalid(f"Unknown format '{value}' for one object: use json or xml.", field="format")
    return fmt


def _experiment(ctx: Context, actor: Actor, place: Place, fmt: str | None) -> Response:
    chosen = single_format(fmt)
    found = resolve(ctx, actor, place)
    assert found.session is not None
    session = sessions.get(ctx, actor, found.project, found.session)
    its_scans = scans.all_of(ctx, actor, found.project, found.session)
    if chosen == "json":
        return respond(experiment_docs.experiment_item(session, its_scans))
    return Response(
        experiment_docs.experiment_xml(session, its_scans), media_type="text/xml; charset=utf-8"
    )


def _put(ctx: Context, actor: Actor, place: Place, request: Request) -> Response:
    """Create the session ``place`` names, or change it if it exists."""
    found = find_session(ctx, actor, place)
    if found is None:
        return _create(ctx, actor, place, request)
    assert found.session is not None
    sessions.check(ctx, actor, found.project, Action.EDIT, found.session)
    parsed = session_fields(request.query_params.multi_items())
    xsi_type = request.query_params.get("xsiType")
    if xsi_type:
        session_types.session_modality(xsi_type)  # 400 for a type that is no session's
    existing = sessions.get(ctx, actor, found.project, found.session)
    _check_place(parsed.place, existing.stable_id, found.project)
    current = session_types.session_type(existing.modality)
    if xsi_type and xsi_type.lower() != current.lower():
        raise Conflict(
            f"Experiment '{existing.label}' exists as {current}, not {xsi_type}.",
            field="xsiType",
        )
    values = dict(parsed.values)
    if values.get("subject") is not None:
        values["subject"] = subject_label(ctx, actor, found.project, str(values["subject"]))
    fields = validated(SessionFields, values, parsed.names)
    changed = sessions.update(ctx, actor, found.project, found.session, fields)
    return PlainTextResponse(changed.stable_id, status_code=200)


def _create(ctx: Context, actor: Actor, place: Place, request: Request) -> Response:
    if place.project is None:
        raise not_found(ctx, actor, place)  # by site-wide ID: only what exists
    sessions.check(ctx, actor, place.project, Action.CREATE)
    parsed = session_fields(request.query_params.multi_items())
    xsi_type = request.query_params.get("xsiType")
    if not xsi_type:
        raise Invalid("xsiType is needed to create an experiment.", field="xsiType")
    modality = session_types.session_modality(xsi_type)
    _check_place(parsed.place, None, place.project)
    values = {k: v for k, v in parsed.values.items() if v is not None}
    subject = values.get("subject") or place.subject
    if subject is None:
        raise Invalid("Submitted experiment record must include the subject.", field="subject_ID")
    values["subject"] = subject_label(ctx, actor, place.project, subject)
    values.setdefault("label", place.experiment)
    if modality is not None:
        values.setdefault("modality", modality)
    created = sessions.create(
        ctx, actor, place.project, validated(SessionCreate, values, parsed.names)
    )
    return PlainTextResponse(created.stable_id, status_code=201)


def _check_place(place: dict[str, str], stable_id: str | None, project: str) -> None:
    """``ID`` and ``project`` may be given only as they are: scandepot assigns IDs, and a
    session changes project by a move, never by a field."""
    given_id = place.get("id")
    if given_id is not None and given_id != stable_id:
        raise Invalid(
            "ID cannot be set: scandepot assigns site-wide IDs; leave it out.", field="ID"
        )
    given_project = place.get("project")
    if given_project is not None and given_project.lower() != project.lower():
        raise Invalid("Project must be modified through separate URI.", field="project")


def _delete(ctx: Context, actor: Actor, place: Place) -> Response:
    found = resolve(ctx, actor, place)
    assert found.session is not None
    sessions.delete(ctx, actor, found.project, found.session)
    return Response(status_code=200)


@router.get("/projects/{project}/experiments/{experiment}")
def get_project_experiment(
    ctx: CtxDep, actor: XnatActorDep, project: str, experiment: str, format: FormatQuery = None
) -> Response:
    return _experiment(ctx, actor, Place(experiment, project), format)


@router.get("/projects/{project}/subjects/{subject}/experiments/{experiment}")
def get_subject_experiment(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    subject: str,
    experiment: str,
    format: FormatQuery = None,
) -> Response:
    return _experiment(ctx, actor, Place(experiment, project, subject), format)


@router.get("/experiments/{experiment}")
def get_site_experiment(
    ctx: CtxDep, actor: XnatActorDep, experiment: str, format: FormatQuery = None
) -> Response:
    return _experiment(ctx, actor, Place(experiment), format)


@router.put("/projects/{project}/experiments/{experiment}")
def put_project_experiment(
    ctx: CtxDep, actor: XnatActorDep, project: str, experiment: str, request: Request
) -> Response:
    return _put(ctx, actor, Place(experiment, project), request)


@router.put("/projects/{project}/subjects/{subject}/experiments/{experiment}")
def put_subject_experiment(
    ctx: CtxDep, actor: XnatActorDep, project: str, subject: str, experiment: str, request: Request
) -> Response:
    return _put(ctx, actor, Place(experiment, project, subject), request)


@router.put("/experiments/{experiment}")
def put_site_experiment(
    ctx: CtxDep, actor: XnatActorDep, experiment: str, request: Request
) -> Response:
    return _put(ctx, actor, Place(experiment), request)


@router.delete("/projects/{project}/experiments/{experiment}")
def delete_project_experiment(
    ctx: CtxDep, actor: XnatActorDep, project: str, experiment: str, removeFiles: str | None = None
) -> Response:
    return _delete(ctx, actor, Place(experiment, project))


@router.delete("/projects/{project}/subjects/{subject}/experiments/{experiment}")
def delete_subject_experiment(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    subject: str,
    experiment: str,
    removeFiles: str | None = None,
) -> Response:
    return _delete(ctx, actor, Place(experiment, project, subject))


@router.delete("/experiments/{experiment}")
def delete_site_experiment(
    ctx: CtxDep, actor: XnatActorDep, experiment: str, removeFiles: str | None = None
) -> Response:
    return _delete(ctx, actor, Place(experiment))
