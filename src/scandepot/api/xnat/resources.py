"""Resources at project, subject, experiment and scan level, under every path form of
their owner (:mod:`scandepot.api.xnat.owners`):

    .../resources                 GET: the ResultSet XNAT lists them in
    .../resources/{resource}      GET (the items shape), PUT or POST (create), DELETE

A resource is named by its label or by its number (``xnat_abstractresource_id``), as
xnatpy names it once it has listed it.
"""

# No `from __future__ import annotations`: FastAPI must resolve the per-owner ``Ref``
# alias, which only exists inside the function that declares the routes.
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from scandepot.api.xnat import items, results
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.owners import OWNERS
from scandepot.api.xnat.results import FormatQuery, Table
from scandepot.archive import resources
from scandepot.archive.resources import OwnerRef, ResourceCreate, ResourceView
from scandepot.http.deps import get_ctx

RESOURCE_TYPE = "xnat:resourceCatalog"
COLUMNS = [
    "xnat_abstractresource_id",
    "cat_id",
    "cat_desc",
    "label",
    "element_name",
    "category",
    "format",
    "content",
    "tags",
    "file_count",
    "file_size",
]
TextQuery = Annotated[str | None, Query(max_length=255)]

router = APIRouter()


def _record(view: ResourceView, category: str) -> dict[str, results.Cell]:
    r = view.resource
    return {
        "xnat_abstractresource_id": r.id,
        "cat_id": "",
        "cat_desc": "",
        "label": r.label,
        "element_name": RESOURCE_TYPE,
        "category": category,
        "format": r.format,
        "content": r.content,
        "tags": "",
        "file_count": view.file_count,
        "file_size": view.size,
    }


def _category(ref: OwnerRef) -> str:
    # XNAT's word for where a resource hangs: a scan's, or any other owner's.
    return "scans" if ref.scan is not None else "resources"


def labelled(dep: Callable[..., OwnerRef]) -> Callable[..., str]:
    """The dependency that reads ``{resource}`` (a label or a number) as a label."""
    Ref = Annotated[OwnerRef, Depends(dep)]

    def resource_label(request: Request, actor: XnatActorDep, ref: Ref, resource: str) -> str:
        return resources.label_of(get_ctx(request), actor, ref, resource)

    return resource_label


def _add_routes(name: str, prefix: str, dep: Callable[..., OwnerRef]) -> None:
    Ref = Annotated[OwnerRef, Depends(dep)]

    Label = Annotated[str, Depends(labelled(dep))]

    @router.get(prefix + "/resources", name=f"xnat_{name}_resources")
    def list_resources(
        request: Request,
        actor: XnatActorDep,
        ref: Ref,
        format: FormatQuery = None,
    ) -> Response:
        """Every column whatever ``columns`` asks, as XNAT answers: xnatpy asks for ``ID``
        and ``URI``, which resources do not have, and tells them by that."""
        found = resources.list_resources(get_ctx(request), actor, ref)
        table = Table.of(COLUMNS, (_record(v, _category(ref)) for v in found), "Resources")
        return results.render(table, format)

    @router.get(prefix + "/resources/{resource}", name=f"xnat_{name}_resource")
    def get_resource(request: Request, actor: XnatActorDep, ref: Ref, label: Label) -> Response:
        view = resources.get(get_ctx(request), actor, ref, label)
        return items.respond(
            items.Item(RESOURCE_TYPE, dict(_record(view, _category(ref))), created=None)
        )

    @router.put(prefix + "/resources/{resource}", name=f"xnat_{name}_resource_put")
    @router.post(prefix + "/resources/{resource}", name=f"xnat_{name}_resource_post")
    async def create_resource(
        request: Request,
        actor: XnatActorDep,
        ref: Ref,
        label: Label,
        format: TextQuery = None,
        content: TextQuery = None,
    ) -> Response:
        """Created (201), or there already (200): XNAT answers a PUT of an existing
        resource without an error, and scripts "make sure" a resource exists so."""
        data = ResourceCreate(label=label, format=format, content=content)
        view, created = await run_in_threadpool(
            resources.ensure, get_ctx(request), actor, ref, data
        )
        return Response(str(view.resource.id), status_code=201 if created else 200)

    @router.delete(prefix + "/resources/{resource}", name=f"xnat_{name}_resource_delete")
    def delete_resource(
        request: Request,
        actor: XnatActorDep,
        ref: Ref,
        label: Label,
        removeFiles: str | None = None,  # noqa: N803 - XNAT's name; files always go
    ) -> Response:
        resources.delete(get_ctx(request), actor, ref, label)
        return Response(status_code=200)


for _name, _prefix, _dep, _level in OWNERS:
    _add_routes(_name, _prefix, _dep)
