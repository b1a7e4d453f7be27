"""/api/v1/projects"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.schemas import PageOut, ProjectOut, page_out, project_out
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate, ProjectSettings

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=PageOut[ProjectOut])
def list_projects(
    ctx: CtxDep,
    actor: ActorDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="ID or name; '*' wildcard")] = None,
) -> PageOut[ProjectOut]:
    return page_out(projects.list_projects(ctx, actor, page, q=q), project_out)


@router.post("", response_model=ProjectOut, status_code=status.HTTP_201_CREATED)
def create_project(
    ctx: CtxDep, actor: ActorDep, body: ProjectCreate, response: Response
) -> ProjectOut:
    out = project_out(projects.create(ctx, actor, body))
    response.headers["location"] = out.url
    return out


@router.get("/{project}", response_model=ProjectOut)
def get_project(ctx: CtxDep, actor: ActorDep, project: str) -> ProjectOut:
    return project_out(projects.get(ctx, actor, project))


@router.patch("/{project}", response_model=ProjectOut)
def update_project(ctx: CtxDep, actor: ActorDep, project: str, body: ProjectSettings) -> ProjectOut:
    return project_out(projects.update(ctx, actor, project, body))


@router.delete("/{project}", status_code=status.HTTP_204_NO_CONTENT)
def delete_project(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    recursive: Annotated[bool, Query(description="Also delete every subject and session.")] = False,
) -> None:
    projects.delete(ctx, actor, project, recursive=recursive)
