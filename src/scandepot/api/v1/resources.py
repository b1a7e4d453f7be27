"""Resources and their files, at project, subject, session and scan level.

One router factory serves all four levels, so the rules cannot drift apart:

    .../resources                       GET list, POST create
    .../resources/{resource}            GET, DELETE
    .../resources/{resource}/files      GET list
    .../resources/{resource}/files/{path}  PUT upload (raw body), GET/HEAD download, DELETE
"""

# No `from __future__ import annotations` here: FastAPI must resolve the per-level ``Ref``
# alias, which only exists inside the functions that declare the routes, when they do.
import mimetypes
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from scandepot.access.actors import Actor
from scandepot.api.bodies import check_declared_length, stream_body
from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.api.digests import expected_digests, repr_digest, verify
from scandepot.api.v1.schemas import (
    FileOut,
    PageOut,
    ResourceOut,
    UploadOut,
    file_out,
    page_out,
    resource_out,
    upload_out,
)
from scandepot.archive import files, resources
from scandepot.archive.resources import OwnerRef, ResourceCreate
from scandepot.context import Context


def project_ref(project: str) -> OwnerRef:
    return OwnerRef(project)


def subject_ref(project: str, subject: str) -> OwnerRef:
    return OwnerRef(project, subject=subject)


def session_ref(project: str, session: str) -> OwnerRef:
    return OwnerRef(project, session=session)


def scan_ref(project: str, session: str, scan: str) -> OwnerRef:
    return OwnerRef(project, session=session, scan=scan)


LEVELS: list[tuple[str, str, Callable[..., OwnerRef]]] = [
    ("project", "/projects/{project}", project_ref),
    ("subject", "/projects/{project}/subjects/{subject}", subject_ref),
    ("session", "/projects/{project}/sessions/{session}", session_ref),
    ("scan", "/projects/{project}/sessions/{session}/scans/{scan}", scan_ref),
]


def build_router(level: str, prefix: str, ref_dep: Callable[..., OwnerRef]) -> APIRouter:
    """The routes of one level; ``ref_dep`` reads the owner's labels from the path."""
    router = APIRouter(prefix=f"{prefix}/resources", tags=[f"{level} resources"])
    _add_resource_routes(router, level, ref_dep)
    _add_upload_route(router, level, ref_dep)
    _add_file_routes(router, level, ref_dep)
    return router


def _add_resource_routes(router: APIRouter, level: str, ref_dep: Callable[..., OwnerRef]) -> None:
    """The resources of an owner, each resource, and the list of its files."""
    Ref = Annotated[OwnerRef, Depends(ref_dep)]

    @router.get("", response_model=list[ResourceOut], name=f"list_{level}_resources")
    def list_resources(ctx: CtxDep, actor: ActorDep, ref: Ref) -> list[ResourceOut]:
        return [resource_out(v) for v in resources.list_resources(ctx, actor, ref)]

    @router.post(
        "",
        response_model=ResourceOut,
        status_code=status.HTTP_201_CREATED,
        name=f"create_{level}_resource",
    )
    def create_resource(
        ctx: CtxDep, actor: ActorDep, ref: Ref, body: ResourceCreate
    ) -> ResourceOut:
        return resource_out(resources.create(ctx, actor, ref, body))

    @router.get("/{resource}", response_model=ResourceOut, name=f"get_{level}_resource")
    def get_resource(ctx: CtxDep, actor: ActorDep, ref: Ref, resource: str) -> ResourceOut:
        return resource_out(resources.get(ctx, actor, ref, resource))

    @router.delete(
        "/{resource}", status_code=status.HTTP_204_NO_CONTENT, name=f"delete_{level}_resource"
    )
    def delete_resource(ctx: CtxDep, actor: ActorDep, ref: Ref, resource: str) -> None:
        resources.delete(ctx, actor, ref, resource)

    @router.get("/{resource}/files", response_model=PageOut[FileOut], name=f"list_{level}_files")
    def list_files(
        ctx: CtxDep,
        actor: ActorDep,
        ref: Ref,
        resource: str,
        page: PageDep,
        path: Annotated[str | None, Query(max_length=1024, description="'*' wildcard")] = None,
    ) -> PageOut[FileOut]:
        return page_out(files.list_files(ctx, actor, ref, resource, page, path=path), file_out)


_UPLOAD_DOCS: dict[str, Any] = {
    "responses": {200: {"model": UploadOut, "description": "Replaced (overwrite=true)"}},
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
}


def _add_upload_route(router: APIRouter, level: str, ref_dep: Callable[..., OwnerRef]) -> None:
    """A file put into a resource, new or (with overwrite) replacing one."""
    Ref = Annotated[OwnerRef, Depends(ref_dep)]

    @router.put(
        "/{resource}/files/{path:path}",
        response_model=UploadOut,
        status_code=status.HTTP_201_CREATED,
        name=f"upload_{level}_file",
        **_UPLOAD_DOCS,
    )
    async def upload_file(
        request: Request,
        ctx: CtxDep,
        actor: ActorDep,
        ref: Ref,
        resource: str,
        path: str,
        overwrite: Annotated[bool, Query(description="Replace an existing file.")] = False,
        format: Annotated[str | None, Query(max_length=64)] = None,
        content: Annotated[str | None, Query(max_length=255)] = None,
    ) -> JSONResponse:
        return await _upload(
            request,
            ctx,
            actor,
            ref,
            resource,
            path,
            overwrite=overwrite,
            format=format,
            content=content,
        )


_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}},
    206: {"description": "Partial content (Range)"},
    304: {"description": "Not modified (If-None-Match)"},
}


def _add_file_routes(router: APIRouter, level: str, ref_dep: Callable[..., OwnerRef]) -> None:
    """One file of a resource: its headers, its download, its removal."""
    Ref = Annotated[OwnerRef, Depends(ref_dep)]

    @router.head(
        "/{resource}/files/{path:path}",
        name=f"head_{level}_file",
        include_in_schema=False,
    )
    def head_file(
        request: Request, ctx: CtxDep, actor: ActorDep, ref: Ref, resource: str, path: str
    ) -> Response:
        return file_response(request, files.locate(ctx, actor, ref, resource, path))

    @router.get(
        "/{resource}/files/{path:path}",
        name=f"download_{level}_file",
        response_class=FileResponse,
        responses=_DOWNLOAD_RESPONSES,
    )
    def download_file(
        request: Request, ctx: CtxDep, actor: ActorDep, ref: Ref, resource: str, path: str
    ) -> Response:
        found = files.locate(ctx, actor, ref, resource, path)
        response = file_response(request, found)
        if response.status_code != status.HTTP_304_NOT_MODIFIED:
            files.record_download(
                ctx, actor, ref.project, found, range=request.headers.get("range")
            )
        return response

    @router.delete(
        "/{resource}/files/{path:path}",
        status_code=status.HTTP_204_NO_CONTENT,
        name=f"delete_{level}_file",
    )
    def delete_file(ctx: CtxDep, actor: ActorDep, ref: Ref, resource: str, path: str) -> None:
        files.delete(ctx, actor, ref, resource, path)


async def _upload(
    request: Request,
    ctx: Context,
    actor: Actor,
    ref: OwnerRef,
    resource: str,
    path: str,
    *,
    overwrite: bool,
    format: str | None,
    content: str | None,
) -> JSONResponse:
    """Stream the body into the store, check it against the digests the client sent,
    and catalogue it: 201 for a new file, 200 for one replaced."""
    path = await run_in_threadpool(
        files.prepare_upload, ctx, actor, ref, resource, path, overwrite=overwrite
    )
    limit = ctx.settings.max_upload_bytes
    check_declared_length(request, limit)
    expected = expected_digests(request.headers)
    staged = await run_in_threadpool(ctx.store.stage)
    try:
        await stream_body(request, staged.write, limit)
        verify(expected, await run_in_threadpool(staged.finish))
        result = await run_in_threadpool(
            lambda: files.commit_upload(
                ctx,
                actor,
                ref,
                resource,
                path,
                staged,
                overwrite=overwrite,
                format=format,
                content=content,
            )
        )
    finally:
        await run_in_threadpool(staged.discard)
    body: dict[str, Any] = upload_out(result).model_dump(mode="json")
    return JSONResponse(
        body,
        status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        headers={"etag": f'"{result.file.sha256}"'},
    )


def file_response(request: Request, found: files.Located) -> Response:
    """The file with its ETag (the quoted SHA-256) and digest; Range and If-Range are
    handled by Starlette's FileResponse, If-None-Match here."""
    etag = f'"{found.file.sha256}"'
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        if etag in tags or "*" in tags:
            return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"etag": etag})
    name = PurePosixPath(found.file.path).name
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(
        found.path,
        media_type=media_type,
        filename=name,
        headers={"etag": etag, "repr-digest": repr_digest(found.file.sha256)},
    )


routers = [build_router(level, prefix, dep) for level, prefix, dep in LEVELS]
