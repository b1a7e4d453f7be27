"""The prearchive: staged sessions, their routing and problems, and what to do with them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.access.permissions import require_signed_in
from scandepot.catalog.paging import PageRequest
from scandepot.catalog.prearchive import Status
from scandepot.errors import Invalid, NotFound, ScandepotError
from scandepot.ingest import drop_matching, drops
from scandepot.prearchive import operations
from scandepot.prearchive.operations import Relabel
from scandepot.web.deps import CtxDep, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()


@router.get("/prearchive")
def staged_list(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    project: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    require_signed_in(visitor.actor)
    chosen = None
    if status:
        try:
            chosen = Status(status)
        except ValueError:
            raise Invalid(f"No status '{status}'.", field="status") from None
    found = operations.list_staged(
        ctx,
        visitor.actor,
        PageRequest(limit=100, offset=offset),
        project=project or None,
        status=chosen,
    )
    return page(
        request,
        visitor,
        "prearchive.html",
        title="Prearchive",
        found=found,
        params={"project": project, "status": status},
        statuses=list(Status),
        dropped=drops.unmatched_entries(ctx, visitor.actor, project=project or None),
    )


@router.post("/prearchive/drops/{project}/match")
def match_drop(ctx: CtxDep, form: PostedDep, project: str) -> Response:
    """Attach a dropped file or folder to a session by hand (the "dropped, not matched"
    list of the prearchive page)."""
    try:
        count = drop_matching.match_by_hand(
            ctx,
            form.actor,
            project,
            form.text("entry") or "",
            form.text("session") or "",
            resource=form.text("resource"),
        )
    except (ScandepotError, ValidationError) as exc:
        return back_to_form("/prearchive", exc)
    return redirect(
        "/prearchive", ok=f"Attached {count} file(s) to session {form.text('session')}."
    )


@router.get("/prearchive/{staged_id}")
def staged_page(request: Request, ctx: CtxDep, visitor: VisitorDep, staged_id: int) -> Response:
    view = operations.get(ctx, visitor.actor, staged_id)
    return page(request, visitor, "staged.html", title=f"Staged session {staged_id}", v=view)


@router.post("/prearchive/{staged_id}/{what}")
def staged_action(ctx: CtxDep, form: PostedDep, staged_id: int, what: str) -> Response:
    back = f"/prearchive/{staged_id}"
    actor = form.actor
    try:
        if what == "relabel":
            data = Relabel(subject=form.text("subject"), session=form.text("session"))
            view = operations.relabel(ctx, actor, staged_id, data)
            return redirect(back, ok=f"Relabelled; the session is {view.staged.status} again.")
        if what == "move":
            view = operations.relabel(ctx, actor, staged_id, Relabel(project=form.text("project")))
            return redirect(back, ok=f"Moved to project {view.staged.project_key}.")
        if what == "rebuild":
            view = operations.rebuild(ctx, actor, staged_id)
            return redirect(back, ok=f"Rebuilt; the session is {view.staged.status}.")
        if what == "delete":
            operations.delete(ctx, actor, staged_id)
            return redirect("/prearchive", ok=f"Staged session {staged_id} is deleted.")
        if what == "archive":
            done = operations.archive(ctx, actor, staged_id, overwrite=form.flag("overwrite"))
            url = f"/projects/{done.project}/sessions/{done.session}"
            return redirect(
                url,
                ok=f"Archived {done.files} file(s) into {done.project} / {done.subject} / "
                f"{done.session}.",
            )
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    raise NotFound(f"No action '{what}' on staged sessions.")
