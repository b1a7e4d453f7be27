"""Saved selections of a project's sessions: /api/v1/projects/{project}/selections
(docs/selections.md)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.archive import selections
from scandepot.archive.selections import SelectionChange, SelectionCreate, SelectionView

router = APIRouter(prefix="/projects/{project}/selections", tags=["selections"])


class MemberOut(BaseModel):
    label: str
    subject: str
    id: str  # the session's site-wide ID


class SelectionOut(BaseModel):
    project: str
    name: str
    description: str
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    sessions: list[MemberOut]
    url: str


def selection_out(view: SelectionView) -> SelectionOut:
    return SelectionOut(
        project=view.project,
        name=view.name,
        description=view.description,
        created_by=view.created_by,
        created_at=view.created_at,
        updated_at=view.updated_at,
        sessions=[
            MemberOut(label=m.label, subject=m.subject, id=m.stable_id) for m in view.sessions
        ],
        url=f"/api/v1/projects/{view.project}/selections/{view.name}",
    )


@router.get("", response_model=list[SelectionOut])
def list_selections(ctx: CtxDep, actor: ActorDep, project: str) -> list[SelectionOut]:
    """The project's selections by name, each with its sessions."""
    return [selection_out(v) for v in selections.list_selections(ctx, actor, project)]


@router.post("", response_model=SelectionOut, status_code=status.HTTP_201_CREATED)
def create(
    ctx: CtxDep, actor: ActorDep, project: str, body: SelectionCreate, response: Response
) -> SelectionOut:
    """Save a selection (201, its address in Location); 409 when the name is taken, 404
    naming the sessions that are not in the project."""
    out = selection_out(selections.create(ctx, actor, project, body))
    response.headers["location"] = out.url
    return out


@router.get("/{name}", response_model=SelectionOut)
def get(ctx: CtxDep, actor: ActorDep, project: str, name: str) -> SelectionOut:
    return selection_out(selections.get(ctx, actor, project, name))


@router.patch("/{name}", response_model=SelectionOut)
def change(
    ctx: CtxDep, actor: ActorDep, project: str, name: str, body: SelectionChange
) -> SelectionOut:
    """Add sessions, take some out, rename, describe: any of these, in one change."""
    return selection_out(selections.change(ctx, actor, project, name, body))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete(ctx: CtxDep, actor: ActorDep, project: str, name: str) -> Response:
    selections.delete(ctx, actor, project, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
