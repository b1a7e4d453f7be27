"""/api/v1/projects/{project}/webhooks: a project's webhooks and their delivery log, for
those who may configure the project."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.notify import webhook_log, webhooks
from scandepot.notify.webhook_log import DeliveryView
from scandepot.notify.webhooks import WebhookChange, WebhookCreate, WebhookView

router = APIRouter(prefix="/projects/{project}/webhooks", tags=["webhooks"])


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    description: str
    secret_set: bool
    secret_hint: str
    created_by: str
    created_at: dt.datetime


class WebhookMade(WebhookOut):
    secret: str | None  # a secret made by the server: shown in this answer only


class DeliveryOut(BaseModel):
    id: int
    delivery: str
    webhook_id: int | None
    event: str
    url: str
    status: str
    attempts: int
    last_code: int | None
    last_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None


def _out(view: WebhookView) -> WebhookOut:
    fields = asdict(view)
    del fields["secret"]
    return WebhookOut(**fields)


def _made(view: WebhookView) -> WebhookMade:
    return WebhookMade(**asdict(view))


def _delivery(view: DeliveryView) -> DeliveryOut:
    return DeliveryOut(**asdict(view))


@router.get("", response_model=list[WebhookOut])
def list_webhooks(ctx: CtxDep, actor: ActorDep, project: str) -> list[WebhookOut]:
    return [_out(view) for view in webhooks.list_webhooks(ctx, actor, project)]


@router.post("", response_model=WebhookMade, status_code=status.HTTP_201_CREATED)
def add_webhook(ctx: CtxDep, actor: ActorDep, project: str, body: WebhookCreate) -> WebhookMade:
    return _made(webhooks.add(ctx, actor, project, body))


@router.get("/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    limit: Annotated[int, Query(ge=1, le=webhook_log.MOST)] = webhook_log.SHOWN,
    webhook_id: int | None = None,
) -> list[DeliveryOut]:
    found = webhook_log.deliveries(ctx, actor, project, limit=limit, webhook_id=webhook_id)
    return [_delivery(view) for view in found]


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def redeliver(ctx: CtxDep, actor: ActorDep, project: str, delivery_id: int) -> DeliveryOut:
    return _delivery(webhook_log.redeliver(ctx, actor, project, delivery_id))


@router.get("/{webhook_id}", response_model=WebhookOut)
def get_webhook(ctx: CtxDep, actor: ActorDep, project: str, webhook_id: int) -> WebhookOut:
    return _out(webhooks.get(ctx, actor, project, webhook_id))


@router.put("/{webhook_id}", response_model=WebhookMade)
def change_webhook(
    ctx: CtxDep, actor: ActorDep, project: str, webhook_id: int, body: WebhookChange
) -> WebhookMade:
    return _made(webhooks.change(ctx, actor, project, webhook_id, body))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_webhook(ctx: CtxDep, actor: ActorDep, project: str, webhook_id: int) -> Response:
    webhooks.remove(ctx, actor, project, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
