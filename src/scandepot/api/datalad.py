"""The visit store (docs/datalad.md): what DataLad, git-annex and curl fetch.

/datalad/{project}/{visit}_dicom.tar                the visit's DICOM tarball (Range, HEAD)
/datalad/{project}/{visit}_metadata_tarball.json    its metadata, as the INM-ICF utilities
/datalad/{project}/{visit}_metadata_dicoms.json       write them
/datalad/{project}/{visit}_XDLRA--refs              its DataLad dataset, for
/datalad/{project}/{visit}_XDLRA--repo-export         ``datalad clone 'datalad-annex::...'``
/datalad/{project}/catalog/{path}                   the project's datalad-catalog pages

The same credentials as the rest of the API (HTTP Basic with a password or an API token,
a Bearer token, the session cookie) and the same access rules (read on the project).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from scandepot.datalad import catalog, store
from scandepot.http import ranges
from scandepot.http.deps import ActorDep, CtxDep
from scandepot.http.responses import FileBodyResponse

router = APIRouter(prefix="/datalad", tags=["datalad"])
TAR = "/{project}/{visit}_dicom.tar"
TAR_TYPE = "application/x-tar"
_TAR_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {TAR_TYPE: {}}, "description": "The visit's tarball"},
    206: {"description": "Partial content (Range)"},
    416: {"description": "Range not satisfiable"},
}


def _tar_headers(name: str) -> dict[str, str]:
    return {"accept-ranges": "bytes", "content-disposition": f'attachment; filename="{name}"'}


@router.head(TAR, name="head_visit_tarball", include_in_schema=False)
def head_tarball(ctx: CtxDep, actor: ActorDep, project: str, visit: str) -> Response:
    tar = store.visit_tar_size(ctx, actor, project, visit)
    headers = {**_tar_headers(tar.filename), "content-length": str(tar.total)}
    return Response(media_type=TAR_TYPE, headers=headers)


@router.get(TAR, name="visit_tarball", responses=_TAR_RESPONSES)
def get_tarball(
    request: Request, ctx: CtxDep, actor: ActorDep, project: str, visit: str
) -> Response:
    tar = store.visit_tar(ctx, actor, project, visit)
    span = ranges.span(request.headers.get("range"), tar.total)
    headers = _tar_headers(tar.filename)
    if span is None:
        return FileBodyResponse(tar, media_type=TAR_TYPE, headers=headers)
    headers["content-range"] = ranges.content_range(*span, tar.total)
    return FileBodyResponse(tar.part(*span), media_type=TAR_TYPE, headers=headers, status_code=206)


@router.get("/{project}/catalog/{path:path}", name="visit_catalog")
def get_catalog(ctx: CtxDep, actor: ActorDep, project: str, path: str) -> FileResponse:
    return FileResponse(catalog.page(ctx, actor, project, path))


@router.get("/{project}/{name}", name="visit_deposit", response_class=FileResponse)
def get_deposited(ctx: CtxDep, actor: ActorDep, project: str, name: str) -> FileResponse:
    return FileResponse(store.deposited(ctx, actor, project, name))


@router.head("/{project}/{name}", name="head_visit_deposit", include_in_schema=False)
def head_deposited(ctx: CtxDep, actor: ActorDep, project: str, name: str) -> FileResponse:
    return FileResponse(store.deposited(ctx, actor, project, name))
