"""Who gets which notification: a project's recipients (its owners), the signed-in user's
own choices (under /auth, with the user's tokens), and the deliveries that failed (site
administrators)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.schemas import PageOut, page_out
from scandepot.notify import choices, failures, subscriptions
from scandepot.notify.choices import ChoicesView, ChoiceUpdate
from scandepot.notify.failures import FailureView
from scandepot.notify.subscriptions import RecipientCreate, RecipientUpdate, RecipientView

recipients_router = APIRouter(
    prefix="/projects/{project}/notifications/recipients", tags=["notifications"]
)
choices_router = APIRouter(prefix="/auth/notifications", tags=["notifications"])
admin_router = APIRouter(prefix="/admin/notifications", tags=["notifications"])


class RecipientOut(BaseModel):
    id: int
    project: str
    address: str
    topics: list[str]
    created_at: dt.datetime


def _recipient(view: RecipientView) -> RecipientOut:
    return RecipientOut(**asdict(view))


@recipients_router.get("", response_model=list[RecipientOut])
def list_recipients(ctx: CtxDep, actor: ActorDep, project: str) -> list[RecipientOut]:
    return [_recipient(r) for r in subscriptions.list_recipients(ctx, actor, project)]


@recipients_router.post("", response_model=RecipientOut, status_code=status.HTTP_201_CREATED)
def add_recipient(
    ctx: CtxDep, actor: ActorDep, project: str, body: RecipientCreate
) -> RecipientOut:
    """Send the project's messages of the given topics to an address (owners)."""
    return _recipient(subscriptions.add_recipient(ctx, actor, project, body))


@recipients_router.put("/{recipient_id}", response_model=RecipientOut)
def change_recipient(
    ctx: CtxDep, actor: ActorDep, project: str, recipient_id: int, body: RecipientUpdate
) -> RecipientOut:
    return _recipient(subscriptions.change_recipient(ctx, actor, project, recipient_id, body))


@recipients_router.delete("/{recipient_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_recipient(ctx: CtxDep, actor: ActorDep, project: str, recipient_id: int) -> None:
    subscriptions.remove_recipient(ctx, actor, project, recipient_id)


class ProjectChoicesOut(BaseModel):
    project: str
    name: str
    topics: dict[str, bool]
    own: dict[str, bool | None]


class ChoicesOut(BaseModel):
    login: str
    email: str
    defaults: dict[str, bool]
    chosen: dict[str, bool | None]
    everywhere: dict[str, bool]
    projects: list[ProjectChoicesOut]


def _choices(view: ChoicesView) -> ChoicesOut:
    return ChoicesOut.model_validate(asdict(view))


@choices_router.get("", response_model=ChoicesOut)
def my_choices(ctx: CtxDep, actor: ActorDep) -> ChoicesOut:
    """Which messages you get: for all projects, and in each of yours."""
    return _choices(choices.get(ctx, actor))


@choices_router.put("", response_model=ChoicesOut)
def choose(ctx: CtxDep, actor: ActorDep, body: ChoiceUpdate) -> ChoicesOut:
    """Turn topics on or off (or, null, back to not chosen) for yourself, for all projects
    or (``project``) for one."""
    return _choices(choices.choose(ctx, actor, body))


@choices_router.delete("/projects/{project}", status_code=status.HTTP_204_NO_CONTENT)
def reset_project(ctx: CtxDep, actor: ActorDep, project: str) -> None:
    """Forget your choices for one project: those for all projects apply there again."""
    choices.reset(ctx, actor, project)


class FailureOut(BaseModel):
    id: int
    channel: str
    to: str
    project: str | None
    topic: str
    subject: str
    status: str
    attempts: int
    code: int | None
    error: str
    created_at: dt.datetime
    last_try_at: dt.datetime


class FailuresOut(PageOut[FailureOut]):
    counts: dict[str, int]


def _failure(view: FailureView) -> FailureOut:
    return FailureOut(**asdict(view))


@admin_router.get("", response_model=FailuresOut)
def list_failures(
    ctx: CtxDep,
    actor: ActorDep,
    page: PageDep,
    status: Annotated[
        str | None, Query(max_length=16, description="Default: refused and failed.")
    ] = None,
) -> FailuresOut:
    """The messages and webhook deliveries that were refused or given up, and how many
    messages are in each state."""
    found = failures.report(ctx, actor, page, status=status)
    return FailuresOut(**page_out(found.found, _failure).model_dump(), counts=found.counts)


@admin_router.post("/{message_id}/retry", response_model=FailureOut)
def retry(ctx: CtxDep, actor: ActorDep, message_id: int) -> FailureOut:
    return _failure(failures.retry(ctx, actor, message_id))


@admin_router.post("/{message_id}/dismiss", response_model=FailureOut)
def dismiss(ctx: CtxDep, actor: ActorDep, message_id: int) -> FailureOut:
    return _failure(failures.dismiss(ctx, actor, message_id))
