"""Datasets and their lifecycle: /api/v1/datasets (docs/datasets.md).

A dataset is named by its site-wide ID (``SD_D00001``) or its name; version ``n`` of it
has the stable address ``/api/v1/datasets/{dataset}/versions/{n}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.datasets import drafts, lifecycle, manifest, members, owners, release
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange, MemberView
from scandepot.datasets.views import DatasetView, EventView, VersionView

router = APIRouter(prefix="/datasets", tags=["datasets"])


class InsideOut(BaseModel):
    members: int
    validation_report: dict[str, Any] | None
    curator_comment: str


class VersionOut(BaseModel):
    dataset: str
    name: str
    version: int
    state: str
    metadata: dict[str, Any]
    validation: str | None
    file_count: int | None
    byte_count: int | None
    manifest_sha256: str | None
    aggregates: dict[str, Any] | None
    created_by: str | None  # those who see inside or read the files
    created_at: dt.datetime
    released_at: dt.datetime | None
    published_at: dt.datetime | None
    inside: InsideOut | None  # owners and curators only
    url: str


class DatasetOut(BaseModel):
    id: str
    name: str
    created_by: str
    created_at: dt.datetime
    owners: list[str] | None
    versions: list[VersionOut]
    url: str


class MemberOut(BaseModel):
    kind: str
    id: str
    project: str
    subject: str
    session: str | None


class EventOut(BaseModel):
    version: int | None
    action: str
    login: str
    at: dt.datetime
    comment: str
    details: dict[str, Any]


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=10_000)


def version_out(v: VersionView) -> VersionOut:
    inside = None
    if v.inside is not None:
        inside = InsideOut(
            members=v.inside.members,
            validation_report=v.inside.validation_report,
            curator_comment=v.inside.curator_comment,
        )
    return VersionOut(
        dataset=v.dataset,
        name=v.name,
        version=v.number,
        state=v.state,
        metadata=v.metadata,
        validation=v.validation,
        file_count=v.file_count,
        byte_count=v.byte_count,
        manifest_sha256=v.manifest_sha256,
        aggregates=v.aggregates,
        created_by=v.created_by,
        created_at=v.created_at,
        released_at=v.released_at,
        published_at=v.published_at,
        inside=inside,
        url=f"/api/v1/datasets/{v.dataset}/versions/{v.number}",
    )


def dataset_out(d: DatasetView) -> DatasetOut:
    return DatasetOut(
        id=d.stable_id,
        name=d.name,
        created_by=d.created_by,
        created_at=d.created_at,
        owners=d.owners,
        versions=[version_out(v) for v in d.versions],
        url=f"/api/v1/datasets/{d.stable_id}",
    )


def members_out(found: list[MemberView]) -> list[MemberOut]:
    return [
        MemberOut(kind=m.kind, id=m.id, project=m.project, subject=m.subject, session=m.session)
        for m in found
    ]


def event_out(e: EventView) -> EventOut:
    return EventOut(
        version=e.version,
        action=e.action,
        login=e.login,
        at=e.at,
        comment=e.comment,
        details=e.details,
    )


@router.get("", response_model=list[DatasetOut])
def list_datasets(ctx: CtxDep, actor: ActorDep) -> list[DatasetOut]:
    """The datasets the caller owns (curators and site administrators: every one)."""
    return [dataset_out(d) for d in drafts.list_mine(ctx, actor)]


@router.post("", response_model=DatasetOut, status_code=status.HTTP_201_CREATED)
def create(ctx: CtxDep, actor: ActorDep, body: DatasetCreate, response: Response) -> DatasetOut:
    """A new dataset owned by the caller, with version 1 as a draft (201, Location)."""
    out = dataset_out(drafts.create(ctx, actor, body))
    response.headers["location"] = out.url
    return out


@router.get("/{dataset}", response_model=DatasetOut)
def get(ctx: CtxDep, actor: ActorDep, dataset: str) -> DatasetOut:
    return dataset_out(drafts.get(ctx, actor, dataset))


@router.patch("/{dataset}", response_model=VersionOut)
def edit(ctx: CtxDep, actor: ActorDep, dataset: str, body: dict[str, Any]) -> VersionOut:
    """Change the draft's metadata: each field given replaces its value, null removes it."""
    return version_out(drafts.update(ctx, actor, dataset, body))


@router.delete("/{dataset}", status_code=status.HTTP_204_NO_CONTENT)
def delete(ctx: CtxDep, actor: ActorDep, dataset: str) -> None:
    """Delete a dataset that was never released."""
    drafts.delete(ctx, actor, dataset)


@router.get("/{dataset}/members", response_model=list[MemberOut])
def list_members(
    ctx: CtxDep,
    actor: ActorDep,
    dataset: str,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> list[MemberOut]:
    """The subjects and sessions of a version (the newest by default): owners, curators."""
    return members_out(members.listed(ctx, actor, dataset, version))


@router.patch("/{dataset}/members", response_model=list[MemberOut])
def change_members(
    ctx: CtxDep, actor: ActorDep, dataset: str, body: MemberChange
) -> list[MemberOut]:
    """Add and take out subjects and sessions of the draft, all or nothing."""
    return members_out(members.change(ctx, actor, dataset, body))


@router.put("/{dataset}/owners/{login}", response_model=DatasetOut)
def add_owner(ctx: CtxDep, actor: ActorDep, dataset: str, login: str) -> DatasetOut:
    return dataset_out(owners.add(ctx, actor, dataset, login))


@router.delete("/{dataset}/owners/{login}", response_model=DatasetOut)
def remove_owner(ctx: CtxDep, actor: ActorDep, dataset: str, login: str) -> DatasetOut:
    """Remove an owner; the last one stays (409)."""
    return dataset_out(owners.remove(ctx, actor, dataset, login))


@router.post("/{dataset}/release", response_model=VersionOut)
def release_draft(ctx: CtxDep, actor: ActorDep, dataset: str) -> VersionOut:
    """Release the draft: frozen, with its manifest; its validation starts."""
    return version_out(release.release(ctx, actor, dataset))


@router.post("/{dataset}/versions", response_model=VersionOut, status_code=201)
def new_version(ctx: CtxDep, actor: ActorDep, dataset: str) -> VersionOut:
    """A new draft copied from the last version (metadata and members)."""
    return version_out(lifecycle.new_version(ctx, actor, dataset))


@router.get("/{dataset}/versions/{number}", response_model=VersionOut)
def get_version(ctx: CtxDep, actor: ActorDep, dataset: str, number: int) -> VersionOut:
    """A version by its stable address."""
    return version_out(lifecycle.get_version(ctx, actor, dataset, number))


@router.post("/{dataset}/versions/{number}/validate", response_model=VersionOut)
def validate(
    ctx: CtxDep, actor: ActorDep, dataset: str, number: int, body: Comment | None = None
) -> VersionOut:
    return version_out(lifecycle.validate(ctx, actor, dataset, number, (body or Comment()).comment))


@router.post("/{dataset}/versions/{number}/send-back", response_model=VersionOut)
def send_back(
    ctx: CtxDep, actor: ActorDep, dataset: str, number: int, body: Comment | None = None
) -> VersionOut:
    return version_out(
        lifecycle.send_back(ctx, actor, dataset, number, (body or Comment()).comment)
    )


@router.post("/{dataset}/versions/{number}/publish", response_model=VersionOut)
def publish(ctx: CtxDep, actor: ActorDep, dataset: str, number: int) -> VersionOut:
    return version_out(lifecycle.publish(ctx, actor, dataset, number))


@router.post("/{dataset}/versions/{number}/withdraw", response_model=VersionOut)
def withdraw(
    ctx: CtxDep, actor: ActorDep, dataset: str, number: int, body: Comment | None = None
) -> VersionOut:
    return version_out(lifecycle.withdraw(ctx, actor, dataset, number, (body or Comment()).comment))


@router.get("/{dataset}/versions/{number}/manifest")
def get_manifest(
    ctx: CtxDep,
    actor: ActorDep,
    dataset: str,
    number: int,
    format: Annotated[str, Query(description="json or sha256")] = "json",
) -> StreamingResponse:
    """The version's manifest, as JSON or as ``sha256sum`` lines, streamed."""
    head = manifest.open_manifest(ctx, actor, dataset, number, format)
    kind = "application/json" if format == "json" else "text/plain; charset=utf-8"
    return StreamingResponse(
        manifest.body(ctx, head),
        media_type=kind,
        headers={"content-disposition": f'attachment; filename="{head.filename}"'},
    )


@router.get("/{dataset}/history", response_model=list[EventOut])
def get_history(ctx: CtxDep, actor: ActorDep, dataset: str) -> list[EventOut]:
    """Every step, with who and when: owners and curators."""
    return [event_out(e) for e in drafts.steps(ctx, actor, dataset)]
