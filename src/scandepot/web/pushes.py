"""Pushes in the pages: sessions ticked on a project's page, a form choosing the
destination, then the push's page with its progress and report; a project's pushes."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.catalog.paging import PageRequest
from scandepot.errors import ScandepotError
from scandepot.push import follow, views
from scandepot.push.requests import PushRequest, choices, request_push
from scandepot.web.deps import CtxDep, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()

Project = Annotated[str, Query(max_length=64)]
Labels = Annotated[list[str] | None, Query(max_length=1000)]
REFRESH_S = 2  # how often a push's page reloads itself while it runs


@router.get("/pushes")
def push_list(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    project: Project,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """A project's pushes, newest first, with their progress."""
    found = follow.list_pushes(ctx, visitor.actor, project, PageRequest(limit=50, offset=offset))
    return page(
        request,
        visitor,
        "pushes.html",
        title=f"Pushes of {project}",
        found=found,
        project=project,
        params={"project": project},
    )


@router.get("/pushes/new")
def push_form(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    source: Project,
    sessions: Labels = None,
    selection: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The form: the destination, the sessions ticked, more sessions or subjects, a saved
    selection."""
    offered = choices(ctx, visitor.actor, source)
    return page(
        request,
        visitor,
        "push_new.html",
        title=f"Push from {source}",
        project=source,
        destinations=offered.destinations,
        selections=offered.selections,
        selection=selection,
        sessions=sessions or [],
    )


@router.post("/pushes")
def push_start(ctx: CtxDep, form: PostedDep) -> Response:
    project = form.text("project") or ""
    back = "/pushes/new?" + urlencode(
        [
            ("source", project),
            *(("sessions", s) for s in form.values("sessions")),
            *(("selection", s) for s in form.values("selection")),
        ]
    )
    try:
        asked = PushRequest(
            destination=form.text("destination") or "",
            sessions=form.values("sessions") + form.lines("more_sessions", commas=True),
            subjects=form.lines("subjects", commas=True),
            selection=form.text("selection"),
            allow_burned_in=form.flag("allow_burned_in"),
        )
        push = request_push(ctx, form.actor, project, asked)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(f"/pushes/{push.id}", ok=f"Push {push.id} is queued.")


@router.get("/pushes/{push_id}")
def push_page(request: Request, ctx: CtxDep, visitor: VisitorDep, push_id: int) -> Response:
    """Progress while it runs (the page reloads itself), then the report."""
    view = follow.get(ctx, visitor.actor, push_id)
    context: dict[str, Any] = {
        "p": view.push,
        "view": view,
        "record": views.record(view),
        "refresh": None if view.finished else REFRESH_S,
    }
    return page(request, visitor, "push.html", title=f"Push {push_id}", **context)


@router.post("/pushes/{push_id}/cancel")
def push_cancel(ctx: CtxDep, form: PostedDep, push_id: int) -> Response:
    back = f"/pushes/{push_id}"
    try:
        view = follow.cancel(ctx, form.actor, push_id)
    except ScandepotError as exc:
        return back_to_form(back, exc)
    said = "is cancelled" if view.finished else "stops at its next step"
    return redirect(back, ok=f"Push {push_id} {said}.")
