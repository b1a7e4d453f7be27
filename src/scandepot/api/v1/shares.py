"""Sharing: /api/v1/projects/{project}/shares, and
/api/v1/projects/{project}/{subjects|sessions}/{label}/shares[/{into}] (docs/transfers.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.catalog.transfers import ShareKind
from scandepot.transfers import shares
from scandepot.transfers.shares import ShareView

router = APIRouter(prefix="/projects/{project}", tags=["shares"])

LabelQuery = Annotated[
    str | None,
    Query(max_length=64, description="The label in the project shared into; default: its own."),
]


class ShareOut(BaseModel):
    kind: ShareKind
    id: str  # the site-wide ID of what is shared
    owner: str  # the project that owns it
    subject: str  # the subject's label in the owning project
    session: str | None  # the session's label there; null for a share of a subject
    project: str  # the project it is shared into
    label: str  # its label in that project
    created_by: str
    created_at: dt.datetime


def share_out(view: ShareView) -> ShareOut:
    return ShareOut(
        kind=view.kind,
        id=view.id,
        owner=view.owner,
        subject=view.subject,
        session=view.session,
        project=view.project,
        label=view.label,
        created_by=view.created_by,
        created_at=view.created_at,
    )


@router.get("/shares", response_model=list[ShareOut])
def shared_into(ctx: CtxDep, actor: ActorDep, project: str) -> list[ShareOut]:
    return [share_out(v) for v in shares.shares_into(ctx, actor, project)]


@router.get("/subjects/{subject}/shares", response_model=list[ShareOut])
def subject_shares(ctx: CtxDep, actor: ActorDep, project: str, subject: str) -> list[ShareOut]:
    return [share_out(v) for v in shares.shares_of(ctx, actor, project, ShareKind.SUBJECT, subject)]


@router.put("/subjects/{subject}/shares/{into}", response_model=ShareOut)
def share_subject(
    ctx: CtxDep, actor: ActorDep, project: str, subject: str, into: str, label: LabelQuery = None
) -> ShareOut:
    return share_out(shares.share_subject(ctx, actor, project, subject, into, label))


@router.delete("/subjects/{subject}/shares/{into}", status_code=status.HTTP_204_NO_CONTENT)
def unshare_subject(ctx: CtxDep, actor: ActorDep, project: str, subject: str, into: str) -> None:
    shares.unshare(ctx, actor, project, ShareKind.SUBJECT, subject, into)


@router.get("/sessions/{session}/shares", response_model=list[ShareOut])
def session_shares(ctx: CtxDep, actor: ActorDep, project: str, session: str) -> list[ShareOut]:
    return [share_out(v) for v in shares.shares_of(ctx, actor, project, ShareKind.SESSION, session)]


@router.put("/sessions/{session}/shares/{into}", response_model=ShareOut)
def share_session(
    ctx: CtxDep, actor: ActorDep, project: str, session: str, into: str, label: LabelQuery = None
) -> ShareOut:
    return share_out(shares.share_session(ctx, actor, project, session, into, label))


@router.delete("/sessions/{session}/shares/{into}", status_code=status.HTTP_204_NO_CONTENT)
def unshare_session(ctx: CtxDep, actor: ActorDep, project: str, session: str, into: str) -> None:
    shares.unshare(ctx, actor, project, ShareKind.SESSION, session, into)
