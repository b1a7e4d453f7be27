"""Subjects: ``/data/projects/{project}/subjects[/{subject}]`` (by label or site-wide
ID) and ``/data/subjects[/{id}]`` across the projects the caller may read.

``PUT`` creates the subject, or changes it when the project has one so named (as XNAT
does: a PUT is idempotent), from the query fields of :mod:`subject_fields`; it answers
the subject's ID as text. ``DELETE`` removes the subject with its sessions and files.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.responses import Response

from scandepot.api.xnat import datatypes, subject_fields
from scandepot.api.xnat.columns import table
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.documents import answer
from scandepot.api.xnat.items import Child, Item, Value
from scandepot.api.xnat.results import ColumnsQuery, FormatQuery, render
from scandepot.archive import lookup, subjects
from scandepot.catalog.archive import Subject
from scandepot.http.deps import CtxDep

router = APIRouter()

S = "/projects/{project}/subjects/{subject}"


def subject_item(subject: Subject) -> Item:
    demographics: dict[str, Value] = {
        "gender": subject.sex,
        "age": subject.age,
        "yob": subject.birth_year,
    }
    fields = sorted((subject.fields or {}).items())
    children = [
        Child("demographics", [Item(datatypes.DEMOGRAPHICS, demographics)])
        if any(v is not None for v in demographics.values())
        else Child("demographics", []),
        Child(
            "fields/field",
            [Item("xnat:subjectData_field", {"field": v, "name": k}) for k, v in fields],
        ),
    ]
    return Item(
        datatypes.SUBJECT,
        {
            "ID": subject.stable_id,
            "project": subject.project.label,
            "label": subject.label,
            "group": subject.group,
        },
        children=children,
        created=subject.created_at,
    )


def _listing(rows: list[subjects.SubjectRow], fmt: str | None, columns: str | None) -> Response:
    shown = table(
        rows,
        subject_fields.column,
        default=subject_fields.DEFAULT_COLUMNS,
        wanted=columns,
        title="Subjects",
    )
    return render(shown, fmt)


@router.get("/projects/{project}/subjects")
def list_subjects(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    fmt: FormatQuery = None,
    columns: ColumnsQuery = None,
) -> Response:
    found = subjects.rows(ctx, actor, project, fields=subject_fields.shows_fields(columns))
    return _listing(found, fmt, columns)


@router.get("/subjects")
def list_all_subjects(
    ctx: CtxDep, actor: XnatActorDep, fmt: FormatQuery = None, columns: ColumnsQuery = None
) -> Response:
    found = subjects.rows(ctx, actor, fields=subject_fields.shows_fields(columns))
    return _listing(found, fmt, columns)


def _label(ctx: CtxDep, actor: XnatActorDep, project: str, subject: str) -> str:
    """The label ``subject`` (a label or an ID) names; itself when none, so that the
    service called with it answers as its check answers."""
    return lookup.subject_in(ctx, actor, project, subject) or subject


@router.get(S)
def get_subject(
    ctx: CtxDep, actor: XnatActorDep, project: str, subject: str, fmt: FormatQuery = None
) -> Response:
    found = subjects.get(ctx, actor, project, _label(ctx, actor, project, subject))
    return answer(subject_item(found), fmt)


@router.get("/subjects/{subject_id}")
def get_subject_by_id(
    ctx: CtxDep, actor: XnatActorDep, subject_id: str, fmt: FormatQuery = None
) -> Response:
    found = lookup.subject_by_id(ctx, actor, subject_id)
    return answer(subject_item(subjects.get(ctx, actor, found.project, found.subject)), fmt)


@router.put(S, response_class=PlainTextResponse)
def put_subject(
    request: Request, ctx: CtxDep, actor: XnatActorDep, project: str, subject: str
) -> Response:
    label = _label(ctx, actor, project, subject)
    query = dict(request.query_params)
    change = subject_fields.parse_put(query, subject_id=subject, project=project)
    found, created = subjects.put(
        ctx, actor, project, label, change.data, field_changes=change.fields
    )
    return PlainTextResponse(found.stable_id, status_code=201 if created else 200)


@router.delete(S, response_class=PlainTextResponse)
def delete_subject(
    ctx: CtxDep,
    actor: XnatActorDep,
    project: str,
    subject: str,
    remove_files: Annotated[str | None, Query(alias="removeFiles")] = None,
) -> Response:
    """The subject goes with its sessions, and its files with it whatever ``removeFiles``
    says: the catalog and the file store never disagree."""
    del remove_files
    subjects.delete(ctx, actor, project, _label(ctx, actor, project, subject), recursive=True)
    return PlainTextResponse("")
