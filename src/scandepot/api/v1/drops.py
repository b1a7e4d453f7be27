"""/api/v1/projects/{project}/drop-accounts and /drops: a project's SFTP drop accounts
(for those who may configure it), its matching rule, and what was dropped and not matched
(for those who see its prearchive), matched by hand."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.errors import NotFound
from scandepot.ingest import drop_accounts, drop_matching, drops
from scandepot.ingest.drop_accounts import DropAccountCreate, DropAccountUpdate, DropAccountView
from scandepot.ingest.drop_matching import DropRuleSet

accounts_router = APIRouter(prefix="/projects/{project}/drop-accounts", tags=["sftp drop"])
router = APIRouter(prefix="/projects/{project}/drops", tags=["sftp drop"])


class KeyOut(BaseModel):
    id: int
    fingerprint: str
    type: str
    comment: str
    created_at: dt.datetime


class DropAccountOut(BaseModel):
    username: str
    project: str
    name: str
    enabled: bool
    has_password: bool
    keys: list[KeyOut]
    created_at: dt.datetime


class DropAccountMade(DropAccountOut):
    password: str | None  # a password made by the server: shown in this answer only


class DropOut(BaseModel):
    id: int
    path: str
    size: int
    dropped_at: dt.datetime
    age_s: float


class MatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry: str = Field(max_length=1024)  # a dropped file, or a folder and all it holds
    session: str
    resource: str | None = None  # default: the project's rule's


class MatchOut(BaseModel):
    files: int


def _out(view: DropAccountView) -> DropAccountOut:
    return DropAccountOut(**asdict(view))


@accounts_router.get("", response_model=list[DropAccountOut])
def list_accounts(ctx: CtxDep, actor: ActorDep, project: str) -> list[DropAccountOut]:
    return [_out(v) for v in drop_accounts.list_accounts(ctx, actor, project)]


@accounts_router.post("", response_model=DropAccountMade, status_code=status.HTTP_201_CREATED)
def create_account(
    ctx: CtxDep, actor: ActorDep, project: str, body: DropAccountCreate
) -> DropAccountMade:
    view, password = drop_accounts.create(ctx, actor, project, body)
    return DropAccountMade(**asdict(view), password=password)


@accounts_router.patch("/{name}", response_model=DropAccountOut)
def update_account(
    ctx: CtxDep, actor: ActorDep, project: str, name: str, body: DropAccountUpdate
) -> DropAccountOut:
    return _out(drop_accounts.update(ctx, actor, project, name, body))


@accounts_router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_account(ctx: CtxDep, actor: ActorDep, project: str, name: str) -> Response:
    drop_accounts.delete(ctx, actor, project, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=list[DropOut])
def list_unmatched(ctx: CtxDep, actor: ActorDep, project: str) -> list[DropOut]:
    found = drops.list_unmatched(ctx, actor, project)
    return [
        DropOut(id=d.id, path=d.path, size=d.size, dropped_at=d.dropped_at, age_s=d.age_s)
        for d in found
    ]


@router.get("/rule", response_model=DropRuleSet)
def get_rule(ctx: CtxDep, actor: ActorDep, project: str) -> DropRuleSet:
    return drop_matching.get_rule(ctx, actor, project)


@router.put("/rule", response_model=DropRuleSet)
def set_rule(ctx: CtxDep, actor: ActorDep, project: str, body: DropRuleSet) -> DropRuleSet:
    return drop_matching.set_rule(ctx, actor, project, body)


@router.post("/match", response_model=MatchOut)
def match(ctx: CtxDep, actor: ActorDep, project: str, body: MatchRequest) -> MatchOut:
    count = drop_matching.match_by_hand(
        ctx, actor, project, body.entry, body.session, resource=body.resource
    )
    return MatchOut(files=count)


@router.delete("/{drop_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_drop(ctx: CtxDep, actor: ActorDep, project: str, drop_id: int) -> Response:
    if not drops.delete_drop(ctx, drop_id, actor=actor, project=project):
        raise NotFound(f"No unmatched drop {drop_id} in '{project}'.", field="drop_id")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
