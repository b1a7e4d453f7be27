"""Saved selections in the pages: sessions ticked on a project's Sessions tab saved under a
name (or added to a selection), the project's selections with their sessions, each
pushed, changed or deleted from there (docs/selections.md)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.archive import selections
from scandepot.archive.selections import SelectionChange, SelectionCreate
from scandepot.errors import ScandepotError
from scandepot.web.deps import CtxDep, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()

Labels = Annotated[list[str] | None, Query(max_length=1000)]


def _base(project: str) -> str:
    return f"/projects/{quote(project)}/selections"


@router.get("/projects/{project}/selections")
def selection_list(request: Request, ctx: CtxDep, visitor: VisitorDep, project: str) -> Response:
    """The project's selections with their sessions; push, change or delete each."""
    return page(
        request,
        visitor,
        "selections.html",
        title=f"Selections of {project}",
        project=project,
        found=selections.list_selections(ctx, visitor.actor, project),
    )


@router.get("/projects/{project}/selections/new")
def selection_form(
    request: Request, ctx: CtxDep, visitor: VisitorDep, project: str, sessions: Labels = None
) -> Response:
    """The form: a name for the sessions ticked, or a selection to add them to."""
    return page(
        request,
        visitor,
        "selection_new.html",
        title=f"Save a selection of {project}",
        project=project,
        sessions=sessions or [],
        existing=selections.list_selections(ctx, visitor.actor, project),
    )


@router.post("/projects/{project}/selections")
def selection_save(ctx: CtxDep, form: PostedDep, project: str) -> Response:
    ticked = form.values("sessions")
    back = f"{_base(project)}/new?" + urlencode([("sessions", s) for s in ticked])
    into = form.text("into")
    try:
        if into:
            view = selections.change(ctx, form.actor, project, into, SelectionChange(add=ticked))
        else:
            asked = SelectionCreate(
                name=form.text("name") or "",
                sessions=ticked,
                description=form.text("description") or "",
            )
            view = selections.create(ctx, form.actor, project, asked)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    said = f"Selection {view.name} holds {len(view.sessions)} session(s)."
    return redirect(f"{_base(project)}#sel-{view.name}", ok=said)


@router.post("/projects/{project}/selections/{name}")
def selection_change(ctx: CtxDep, form: PostedDep, project: str, name: str) -> Response:
    """Take the ticked sessions out; rename; describe."""
    try:
        asked = SelectionChange(
            remove=form.values("remove"),
            name=form.text("name") or name,
            description=form.text("description") or "",
        )
        view = selections.change(ctx, form.actor, project, name, asked)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(_base(project), exc)
    return redirect(f"{_base(project)}#sel-{view.name}", ok=f"Selection {view.name} is saved.")


@router.post("/projects/{project}/selections/{name}/delete")
def selection_delete(ctx: CtxDep, form: PostedDep, project: str, name: str) -> Response:
    try:
        selections.delete(ctx, form.actor, project, name)
    except ScandepotError as exc:
        return back_to_form(_base(project), exc)
    return redirect(_base(project), ok=f"Selection {name} is deleted; its sessions stay.")
