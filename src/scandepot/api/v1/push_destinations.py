"""/api/v1/push/destinations: the nodes pushes go to, for site administrators. A secret
goes in (``secret``) and never comes out: answers say ``secret_set``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.push import destinations
from scandepot.push.destinations import (
    Checked,
    DestinationChange,
    DestinationCreate,
    DestinationView,
)

router = APIRouter(prefix="/push/destinations", tags=["push destinations"])


@router.get("", response_model=list[DestinationView])
def list_destinations(ctx: CtxDep, actor: ActorDep) -> list[DestinationView]:
    return destinations.list_destinations(ctx, actor)


@router.post("", response_model=DestinationView, status_code=status.HTTP_201_CREATED)
def add_destination(ctx: CtxDep, actor: ActorDep, body: DestinationCreate) -> DestinationView:
    return destinations.add(ctx, actor, body)


@router.get("/{name}", response_model=DestinationView)
def show_destination(ctx: CtxDep, actor: ActorDep, name: str) -> DestinationView:
    return destinations.show(ctx, actor, name)


@router.patch("/{name}", response_model=DestinationView)
def change_destination(
    ctx: CtxDep, actor: ActorDep, name: str, body: DestinationChange
) -> DestinationView:
    return destinations.change(ctx, actor, name, body)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove_destination(ctx: CtxDep, actor: ActorDep, name: str) -> Response:
    destinations.remove(ctx, actor, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{name}/projects/{project}", response_model=DestinationView)
def allow_project(ctx: CtxDep, actor: ActorDep, name: str, project: str) -> DestinationView:
    return destinations.allow(ctx, actor, name, project)


@router.delete("/{name}/projects/{project}", response_model=DestinationView)
def disallow_project(ctx: CtxDep, actor: ActorDep, name: str, project: str) -> DestinationView:
    return destinations.disallow(ctx, actor, name, project)


@router.post("/{name}/check", response_model=Checked)
def check_destination(ctx: CtxDep, actor: ActorDep, name: str) -> Checked:
    """Reach the destination once: ``ok``, or the reason it could not be reached."""
    return destinations.check(ctx, actor, name)
