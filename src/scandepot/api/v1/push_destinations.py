"""/api/v1/push/destinations: the nodes pushes go to, for site administrators. A secret
goes in (``secret``) and never comes out: answers say ``secret_set``."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.push import destinations
from scandepot.push.destinations import DestinationChange, DestinationCreate, DestinationView

router = APIRouter(prefix="/push/destinations", tags=["push destinations"])


class DestinationOut(BaseModel):
    name: str
    kind: str
    description: str
    url: str | None
    ae_title: str | None
    host: str | None
    port: int | None
    calling_ae: str | None
    remote_project: str | None
    auth: str
    username: str | None
    secret_set: bool
    secret_env: str | None
    verify_tls: bool
    ca_bundle: str | None
    client_cert: str | None
    client_key: str | None
    external: bool
    script_kind: str | None
    script_text: str
    script_pixel_text: str
    script_version: int
    script_sha256: str | None
    concurrency: int
    max_attempts: int
    clinical: str
    clinical_url: str | None
    enabled: bool
    projects: list[str]
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class CheckOut(BaseModel):
    name: str
    ok: bool
    reason: str


def _out(view: DestinationView) -> DestinationOut:
    return DestinationOut(**asdict(view))


@router.get("", response_model=list[DestinationOut])
def list_destinations(ctx: CtxDep, actor: ActorDep) -> list[DestinationOut]:
    return [_out(view) for view in destinations.list_destinations(ctx, actor)]


@router.post("", response_model=DestinationOut, status_code=status.HTTP_201_CREATED)
def add_destination(ctx: CtxDep, actor: ActorDep, body: DestinationCreate) -> DestinationOut:
    return _out(destinations.add(ctx, actor, body))


@router.get("/{name}", response_model=DestinationOut)
def show_destination(ctx: CtxDep, actor: ActorDep, name: str) -> DestinationOut:
    return _out(destinations.show(ctx, actor, name))


@router.patch("/{name}", response_model=DestinationOut)
def change_destination(
    ctx: CtxDep, actor: ActorDep, name: str, body: DestinationChange
) -> DestinationOut:
    return _out(destinations.change(ctx, actor, name, body))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove_destination(ctx: CtxDep, actor: ActorDep, name: str) -> Response:
    destinations.remove(ctx, actor, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{name}/projects/{project}", response_model=DestinationOut)
def allow_project(ctx: CtxDep, actor: ActorDep, name: str, project: str) -> DestinationOut:
    return _out(destinations.allow(ctx, actor, name, project))


@router.delete("/{name}/projects/{project}", response_model=DestinationOut)
def disallow_project(ctx: CtxDep, actor: ActorDep, name: str, project: str) -> DestinationOut:
    return _out(destinations.disallow(ctx, actor, name, project))


@router.post("/{name}/check", response_model=CheckOut)
def check_destination(ctx: CtxDep, actor: ActorDep, name: str) -> CheckOut:
    """Reach the destination once: ``ok``, or the reason it could not be reached."""
    return CheckOut(**asdict(destinations.check(ctx, actor, name)))
