"""/api/v1/projects/{project}/sessions"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.schemas import PageOut, SessionOut, page_out, session_out
from scandepot.archive import sessions
from scandepot.archive.sessions import SessionCreate, SessionFields

router = APIRouter(prefix="/projects/{project}/sessions", tags=["sessions"])


@router.get("", response_model=PageOut[SessionOut])
def list_sessions(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    page: PageDep,
    label: Annotated[str | None, Query(max_length=64, description="'*' wildcard")] = None,
    subject: Annotated[str | None, Query(max_length=64)] = None,
    modality: Annotated[str | None, Query(max_length=16)] = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> PageOut[SessionOut]:
    found = sessions.list_sessions(
        ctx,
        actor,
        project,
        page,
        label=label,
        subject=subject,
        modality=modality,
        date_from=date_from,
        date_to=date_to,
    )
    return page_out(found, lambda s: session_out(s, project))


@router.post("", response_model=SessionOut, status_code=status.HTTP_201_CREATED)
def create_session(
    ctx: CtxDep, actor: ActorDep, project: str, body: SessionCreate, response: Response
) -> SessionOut:
    out = session_out(sessions.create(ctx, actor, project, body))
    response.headers["location"] = out.url
    return out


@router.get("/{session}", response_model=SessionOut)
def get_session(ctx: CtxDep, actor: ActorDep, project: str, session: str) -> SessionOut:
    return session_out(sessions.get(ctx, actor, project, session), project)


@router.patch("/{session}", response_model=SessionOut)
def update_session(
    ctx: CtxDep, actor: ActorDep, project: str, session: str, body: SessionFields
) -> SessionOut:
    return session_out(sessions.update(ctx, actor, project, session, body))


@router.delete("/{session}", status_code=status.HTTP_204_NO_CONTENT)
def delete_session(ctx: CtxDep, actor: ActorDep, project: str, session: str) -> None:
    sessions.delete(ctx, actor, project, session)
