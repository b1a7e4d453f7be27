"""``/data/projects`` and ``/data/projects/{project}``: the projects the caller may see."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from scandepot.api.xnat import datatypes
from scandepot.api.xnat.columns import Getter, insert_date, strip_type, table
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.documents import answer
from scandepot.api.xnat.items import Item
from scandepot.api.xnat.results import ColumnsQuery, FormatQuery, render
from scandepot.archive import projects
from scandepot.catalog.archive import Project
from scandepot.http.deps import CtxDep

router = APIRouter()

DEFAULT_COLUMNS = (
    "ID",
    "secondary_ID",
    "name",
    "description",
    "pi_firstname",
    "pi_lastname",
    "URI",
)

_COLUMNS: dict[str, Getter[Project]] = {
    "id": lambda p: p.label,
    "secondary_id": lambda p: p.name,
    "name": lambda p: p.name,
    "description": lambda p: p.description,
    "keywords": lambda p: " ".join(p.keywords or []),
    "accessibility": lambda p: p.accessibility,
    "project_access": lambda p: p.accessibility,
    "pi_firstname": lambda p: "",
    "pi_lastname": lambda p: "",
    "insert_date": lambda p: insert_date(p.created_at),
    "insert_user": lambda p: "",
    "uri": lambda p: f"/data/projects/{p.label}",
    "xsitype": lambda p: datatypes.PROJECT,
}


def column(name: str) -> Getter[Project] | None:
    return _COLUMNS.get(strip_type(name, datatypes.PROJECT).lower())


def project_item(project: Project) -> Item:
    return Item(
        datatypes.PROJECT,
        {
            "ID": project.label,
            "secondary_ID": project.name,
            "name": project.name,
            "description": project.description or None,
            "keywords": " ".join(project.keywords or []) or None,
            "accessibility": project.accessibility,
        },
        created=project.created_at,
    )


@router.get("/projects")
def list_projects(
    ctx: CtxDep, actor: XnatActorDep, fmt: FormatQuery = None, columns: ColumnsQuery = None
) -> Response:
    found = projects.visible(ctx, actor)
    shown = table(found, column, default=DEFAULT_COLUMNS, wanted=columns, title="Projects")
    return render(shown, fmt)


@router.get("/projects/{project}")
def get_project(
    ctx: CtxDep, actor: XnatActorDep, project: str, fmt: FormatQuery = None
) -> Response:
    return answer(project_item(projects.get(ctx, actor, project).project), fmt)
