"""Pushes of a project's sessions to a destination: start, list, follow, instances, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.catalog.push import InstanceStatus
from scandepot.push import follow, views
from scandepot.push.requests import PushRequest, request_push

router = APIRouter(prefix="/projects/{project}/pushes", tags=["pushes"])
# A push by its number alone, as `scandepot push status ID` asks for it.
by_id = APIRouter(prefix="/pushes", tags=["pushes"])


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def start(
    ctx: CtxDep, actor: ActorDep, project: str, body: PushRequest, response: Response
) -> dict[str, Any]:
    """Check a push and queue it (202, with its address in Location); refused with the
    reason: 404 (destination, session, subject), 403 (the project may not push there),
    409 (the destination is off), 422 (no script for an external destination)."""
    push = request_push(ctx, actor, project, body)
    out = views.record(follow.get(ctx, actor, push.id))
    response.headers["location"] = out["url"]
    return out


@router.get("")
def list_pushes(ctx: CtxDep, actor: ActorDep, project: str, page: PageDep) -> dict[str, Any]:
    """The project's pushes, newest first."""
    found = follow.list_pushes(ctx, actor, project, page)
    return {
        "items": [views.summary(p) for p in found.items],
        "total": found.total,
        "limit": found.limit,
        "offset": found.offset,
        "next": found.next,
    }


@router.get("/{push_id}")
def get_push(ctx: CtxDep, actor: ActorDep, project: str, push_id: int) -> dict[str, Any]:
    """Status, progress (instances by status) and the report."""
    return views.record(follow.get(ctx, actor, push_id, project=project))


@router.get("/{push_id}/instances")
def list_instances(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    push_id: int,
    page: PageDep,
    status: Annotated[InstanceStatus | None, Query()] = None,
) -> dict[str, Any]:
    """The push's instances, page by page, optionally of one status."""
    found = follow.instances(ctx, actor, push_id, page, status=status, project=project)
    return {
        "items": [views.instance(i) for i in found.items],
        "total": found.total,
        "limit": found.limit,
        "offset": found.offset,
        "next": found.next,
    }


@router.post("/{push_id}/cancel")
def cancel(ctx: CtxDep, actor: ActorDep, project: str, push_id: int) -> dict[str, Any]:
    """End a queued push now, or a running one at its next step."""
    return views.record(follow.cancel(ctx, actor, push_id, project=project))


@by_id.get("/{push_id}")
def get_push_by_id(ctx: CtxDep, actor: ActorDep, push_id: int) -> dict[str, Any]:
    """The same record as under its project."""
    return views.record(follow.get(ctx, actor, push_id))


@by_id.post("/{push_id}/cancel")
def cancel_by_id(ctx: CtxDep, actor: ActorDep, push_id: int) -> dict[str, Any]:
    """The same cancel as under its project."""
    return views.record(follow.cancel(ctx, actor, push_id))
