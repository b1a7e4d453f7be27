"""/api/v1/projects/{project}/subjects"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.v1.schemas import PageOut, SubjectOut, page_out, subject_out
from scandepot.archive import subjects
from scandepot.archive.subjects import SubjectCreate, SubjectFields
from scandepot.catalog.archive import Sex

router = APIRouter(prefix="/projects/{project}/subjects", tags=["subjects"])


@router.get("", response_model=PageOut[SubjectOut])
def list_subjects(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    page: PageDep,
    label: Annotated[str | None, Query(max_length=64, description="'*' wildcard")] = None,
    group: Annotated[str | None, Query(max_length=64)] = None,
    sex: Sex | None = None,
) -> PageOut[SubjectOut]:
    found = subjects.list_subjects(ctx, actor, project, page, label=label, group=group, sex=sex)
    return page_out(found, lambda s: subject_out(s, project))


@router.post("", response_model=SubjectOut, status_code=status.HTTP_201_CREATED)
def create_subject(
    ctx: CtxDep, actor: ActorDep, project: str, body: SubjectCreate, response: Response
) -> SubjectOut:
    out = subject_out(subjects.create(ctx, actor, project, body))
    response.headers["location"] = out.url
    return out


@router.get("/{subject}", response_model=SubjectOut)
def get_subject(ctx: CtxDep, actor: ActorDep, project: str, subject: str) -> SubjectOut:
    return subject_out(subjects.get(ctx, actor, project, subject), project)


@router.patch("/{subject}", response_model=SubjectOut)
def update_subject(
    ctx: CtxDep, actor: ActorDep, project: str, subject: str, body: SubjectFields
) -> SubjectOut:
    return subject_out(subjects.update(ctx, actor, project, subject, body))


@router.delete("/{subject}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subject(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    subject: str,
    recursive: Annotated[bool, Query(description="Also delete the subject's sessions.")] = False,
) -> None:
    subjects.delete(ctx, actor, project, subject, recursive=recursive)
