"""A project's webhooks on its Manage tab: add (the secret made is shown once), switch on
or off, remove, the delivery log, and a delivery sent again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.access.actors import Actor
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.notify import webhook_log, webhooks
from scandepot.notify.webhooks import WebhookChange, WebhookCreate
from scandepot.web.deps import CtxDep, PostedDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()
W = "/projects/{project}/webhooks"


def manage(ctx: Context, actor: Actor, project: str) -> dict[str, Any]:
    """What the Manage tab shows of the project's webhooks."""
    return {
        "webhooks": webhooks.list_webhooks(ctx, actor, project),
        "deliveries": webhook_log.deliveries(ctx, actor, project, limit=webhook_log.SHOWN),
        "webhook_events": list(webhooks.EVENTS),
    }


def _back(project: str) -> str:
    return f"/projects/{project}?tab=manage#webhooks"


@router.post(W)
def webhook_add(request: Request, ctx: CtxDep, form: PostedDep, project: str) -> Response:
    try:
        data = WebhookCreate(
            url=form.text("url") or "",
            secret=form.text("secret"),
            events=form.values("events"),
            description=form.text("description") or "",
        )
        view = webhooks.add(ctx, form.actor, project, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(_back(project), exc)
    if view.secret is None:
        return redirect(_back(project), ok=f"The webhook to {view.url} is added.")
    return page(
        request,
        form.visitor,
        "webhook_added.html",
        title="Webhook added",
        project=project,
        hook=view,
    )


@router.post(W + "/{webhook_id}")
def webhook_switch(ctx: CtxDep, form: PostedDep, project: str, webhook_id: int) -> Response:
    enabled = form.flag("enabled")
    try:
        view = webhooks.change(ctx, form.actor, project, webhook_id, WebhookChange(enabled=enabled))
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(_back(project), exc)
    state = "on" if enabled else "off"
    return redirect(_back(project), ok=f"The webhook to {view.url} is switched {state}.")


@router.post(W + "/{webhook_id}/remove")
def webhook_remove(ctx: CtxDep, form: PostedDep, project: str, webhook_id: int) -> Response:
    try:
        webhooks.remove(ctx, form.actor, project, webhook_id)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(_back(project), exc)
    return redirect(_back(project), ok="The webhook is removed.")


@router.post(W + "/deliveries/{delivery_id}/redeliver")
def webhook_redeliver(ctx: CtxDep, form: PostedDep, project: str, delivery_id: int) -> Response:
    try:
        again = webhook_log.redeliver(ctx, form.actor, project, delivery_id)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(_back(project), exc)
    return redirect(_back(project), ok=f"Delivery {delivery_id} is sent again as {again.id}.")
