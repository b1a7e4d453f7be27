"""/api/v1/prearchive: staged sessions, for the members and owners of their projects."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.schemas import PageOut, page_out
from scandepot.catalog.prearchive import Status
from scandepot.prearchive import operations
from scandepot.prearchive.archiver import Archived
from scandepot.prearchive.operations import Relabel, StagedView

router = APIRouter(prefix="/prearchive", tags=["prearchive"])


class StagedOut(BaseModel):
    id: int
    project: str | None
    subject: str | None
    session: str | None
    status: str
    StudyInstanceUID: str
    StudyDate: dt.date | None
    StudyDescription: str | None
    PatientName: str | None
    PatientID: str | None
    routing: dict[str, Any]
    problems: list[str]
    scans: list[dict[str, Any]]
    files: int
    size: int
    source: str | None
    created_at: dt.datetime
    last_received_at: dt.datetime
    url: str


class ArchiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overwrite: bool = False


class ArchivedOut(BaseModel):
    project: str
    subject: str
    session: str
    session_id: str
    merged: bool
    scans: list[str]
    files: int
    unchanged: int
    replaced: list[str]
    kept: list[str]
    left_out: list[str]
    url: str


def staged_out(view: StagedView) -> StagedOut:
    s = view.staged
    return StagedOut(
        id=s.id,
        project=s.project_key or None,
        subject=s.subject,
        session=s.session,
        status=s.status,
        StudyInstanceUID=s.StudyInstanceUID,
        StudyDate=s.StudyDate,
        StudyDescription=s.StudyDescription,
        PatientName=s.PatientName,
        PatientID=s.PatientID,
        routing=s.routing,
        problems=s.problems,
        scans=s.scans,
        files=view.files,
        size=view.size,
        source=s.source,
        created_at=s.created_at,
        last_received_at=s.last_received_at,
        url=f"/api/v1/prearchive/{s.id}",
    )


def archived_out(done: Archived) -> ArchivedOut:
    return ArchivedOut(
        project=done.project,
        subject=done.subject,
        session=done.session,
        session_id=done.session_id,
        merged=done.merged,
        scans=done.scans,
        files=done.files,
        unchanged=done.unchanged,
        replaced=done.replaced,
        kept=done.kept,
        left_out=done.left_out,
        url=f"/api/v1/projects/{done.project}/sessions/{done.session}",
    )


@router.get("", response_model=PageOut[StagedOut])
def list_staged(
    ctx: CtxDep,
    actor: ActorDep,
    page: PageDep,
    project: Annotated[
        str | None, Query(max_length=64, description="A project ID, or 'unassigned'")
    ] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
) -> PageOut[StagedOut]:
    found = operations.list_staged(ctx, actor, page, project=project, status=status_)
    return page_out(found, staged_out)


@router.get("/{staged_id}", response_model=StagedOut)
def get_staged(ctx: CtxDep, actor: ActorDep, staged_id: int) -> StagedOut:
    return staged_out(operations.get(ctx, actor, staged_id))


@router.patch("/{staged_id}", response_model=StagedOut)
def relabel_staged(ctx: CtxDep, actor: ActorDep, staged_id: int, body: Relabel) -> StagedOut:
    """Relabel the subject or session, or move to another project; rebuilds the session."""
    return staged_out(operations.relabel(ctx, actor, staged_id, body))


@router.post("/{staged_id}/rebuild", response_model=StagedOut)
def rebuild_staged(ctx: CtxDep, actor: ActorDep, staged_id: int) -> StagedOut:
    return staged_out(operations.rebuild(ctx, actor, staged_id))


@router.post("/{staged_id}/archive", response_model=ArchivedOut)
def archive_staged(
    ctx: CtxDep, actor: ActorDep, staged_id: int, body: ArchiveIn | None = None
) -> ArchivedOut:
    overwrite = body.overwrite if body is not None else False
    return archived_out(operations.archive(ctx, actor, staged_id, overwrite=overwrite))


@router.delete("/{staged_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_staged(ctx: CtxDep, actor: ActorDep, staged_id: int) -> None:
    operations.delete(ctx, actor, staged_id)
