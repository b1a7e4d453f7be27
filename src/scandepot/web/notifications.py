"""Who gets which notification: the recipients on a project's Manage tab (the tab itself
is rendered by web/projects.py), the visitor's own choices, and the failed deliveries
for site administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.catalog.paging import PageRequest
from scandepot.errors import ScandepotError
from scandepot.notify import choices, failures, subscriptions
from scandepot.notify.choices import ChoiceUpdate
from scandepot.notify.subscriptions import RecipientCreate, RecipientUpdate
from scandepot.web.deps import CtxDep, Posted, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()

TOPIC_FIELD = "topic"  # a checkbox per topic, value the topic's name


def _manage(project: str) -> str:
    return f"/projects/{project}?tab=manage#notifications"


@router.post("/projects/{project}/notifications/recipients")
def recipient_add(ctx: CtxDep, form: PostedDep, project: str) -> Response:
    back = _manage(project)
    try:
        data = RecipientCreate(address=form.text("address") or "", topics=form.values(TOPIC_FIELD))
        added = subscriptions.add_recipient(ctx, form.actor, project, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"{added.address} gets {', '.join(added.topics)} messages.")


@router.post("/projects/{project}/notifications/recipients/{recipient_id}")
def recipient_change(ctx: CtxDep, form: PostedDep, project: str, recipient_id: int) -> Response:
    back = _manage(project)
    try:
        data = RecipientUpdate(topics=form.values(TOPIC_FIELD))
        changed = subscriptions.change_recipient(ctx, form.actor, project, recipient_id, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"{changed.address} gets {', '.join(changed.topics)} messages.")


@router.post("/projects/{project}/notifications/recipients/{recipient_id}/remove")
def recipient_remove(ctx: CtxDep, form: PostedDep, project: str, recipient_id: int) -> Response:
    subscriptions.remove_recipient(ctx, form.actor, project, recipient_id)
    return redirect(_manage(project), ok="The recipient is removed; it gets no more messages.")


@router.get("/notifications")
def my_choices(request: Request, ctx: CtxDep, visitor: VisitorDep) -> Response:
    view = choices.get(ctx, visitor.actor)
    return page(request, visitor, "notifications.html", title="Notifications", view=view)


CHOSEN = {"on": True, "off": False}


def _chosen(form: Posted) -> dict[str, bool | None]:
    """The form's topics: each one it shows (``shown``), with its choice: on, off, or
    (anything else) not chosen."""
    return {topic: CHOSEN.get(form.text(f"t_{topic}") or "") for topic in form.values("shown")}


@router.post("/notifications")
def choose(ctx: CtxDep, form: PostedDep) -> Response:
    project = form.text("project")
    try:
        choices.choose(ctx, form.actor, ChoiceUpdate(project=project, topics=_chosen(form)))
    except (ScandepotError, ValidationError) as exc:
        return back_to_form("/notifications", exc)
    where = f"in {project}" if project else "for all projects"
    return redirect("/notifications", ok=f"Your choices {where} are saved.")


@router.post("/notifications/projects/{project}/reset")
def reset(ctx: CtxDep, form: PostedDep, project: str) -> Response:
    choices.reset(ctx, form.actor, project)
    return redirect("/notifications", ok=f"In {project} your choices for all projects apply again.")


@router.get("/admin/notifications")
def failed_deliveries(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    found = failures.report(
        ctx, visitor.actor, PageRequest(limit=100, offset=offset), status=status or None
    )
    return page(
        request,
        visitor,
        "admin_notifications.html",
        title="Failed deliveries",
        found=found.found,
        counts=found.counts,
        params={"status": status},
    )


@router.post("/admin/notifications/{message_id}/retry")
def failure_retry(ctx: CtxDep, form: PostedDep, message_id: int) -> Response:
    back = "/admin/notifications"
    try:
        done = failures.retry(ctx, form.actor, message_id)
    except ScandepotError as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"Message {done.id} to {done.to} is sent again shortly.")


@router.post("/admin/notifications/{message_id}/dismiss")
def failure_dismiss(ctx: CtxDep, form: PostedDep, message_id: int) -> Response:
    back = "/admin/notifications"
    try:
        done = failures.dismiss(ctx, form.actor, message_id)
    except ScandepotError as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"Message {done.id} to {done.to} is put aside.")
