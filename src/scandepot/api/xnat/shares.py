"""Sharing as XNAT clients ask for it: ``PUT`` (share) and ``DELETE`` (unshare) on
``/projects/{p}/subjects/{s}/projects/{into}`` and on an experiment's
``.../experiments/{e}/projects/{into}`` (below its subject or its project), with
``?label=`` the label in the project shared into. XNAT answers 200 with text: here the
shared object's ID. docs/transfers.md says what sharing does.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from starlette.responses import Response

from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.experiment_paths import Place, find, subject_label
from scandepot.catalog.transfers import ShareKind
from scandepot.http.deps import CtxDep
from scandepot.transfers import shares

router = APIRouter()

S = "/projects/{project}/subjects/{subject}"
INTO = "/projects/{into}"
Label = Annotated[str | None, Query(max_length=64)]


def _session(ctx: CtxDep, actor: XnatActorDep, place: Place) -> str:
    """The label of the session ``place`` names (label or ID); the experiment as given when
    none does, for the service to answer as it answers an unknown label."""
    found = find(ctx, actor, place)
    return found.session if found is not None and found.session else place.experiment


@router.put(S + INTO, response_class=PlainTextResponse)
def share_subject(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    subject: str,
    into: str,
    label: Label = None,
) -> Response:
    label_there = subject_label(ctx, actor, project, subject)
    view = shares.share_subject(ctx, actor, project, label_there, into, label)
    return PlainTextResponse(view.id)


@router.delete(S + INTO, response_class=PlainTextResponse)
def unshare_subject(
    ctx: CtxDep, actor: XnatActorDep, project: str, subject: str, into: str
) -> Response:
    label_there = subject_label(ctx, actor, project, subject)
    shares.unshare(ctx, actor, project, ShareKind.SUBJECT, label_there, into)
    return PlainTextResponse("")


def _share_session(
    ctx: CtxDep, actor: XnatActorDep, place: Place, into: str, label: str | None
) -> Response:
    assert place.project is not None
    view = shares.share_session(ctx, actor, place.project, _session(ctx, actor, place), into, label)
    return PlainTextResponse(view.id)


def _unshare_session(ctx: CtxDep, actor: XnatActorDep, place: Place, into: str) -> Response:
    assert place.project is not None
    session = _session(ctx, actor, place)
    shares.unshare(ctx, actor, place.project, ShareKind.SESSION, session, into)
    return PlainTextResponse("")


@router.put(S + "/experiments/{experiment}" + INTO, response_class=PlainTextResponse)
def share_subject_experiment(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    subject: str,
    experiment: str,
    into: str,
    label: Label = None,
) -> Response:
    return _share_session(ctx, actor, Place(experiment, project, subject), into, label)


@router.delete(S + "/experiments/{experiment}" + INTO, response_class=PlainTextResponse)
def unshare_subject_experiment(
    ctx: CtxDep, actor: XnatActorDep, project: str, subject: str, experiment: str, into: str
) -> Response:
    return _unshare_session(ctx, actor, Place(experiment, project, subject), into)


@router.put("/projects/{project}/experiments/{experiment}" + INTO, response_class=PlainTextResponse)
def share_experiment(
    ctx: CtxDep, actor: XnatActorDep, project: str, experiment: str, into: str, label: Label = None
) -> Response:
    return _share_session(ctx, actor, Place(experiment, project), into, label)


@router.delete(
    "/projects/{project}/experiments/{experiment}" + INTO, response_class=PlainTextResponse
)
def unshare_experiment(
    ctx: CtxDep, actor: XnatActorDep, project: str, experiment: str, into: str
) -> Response:
    return _unshare_session(ctx, actor, Place(experiment, project), into)
