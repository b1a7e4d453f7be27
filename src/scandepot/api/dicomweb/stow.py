"""STOW-RS: ``POST {root}/studies`` and ``POST {root}/studies/{study}`` under both roots.

The body streams through :mod:`scandepot.ingest.stow` as it arrives; docs/dicomweb.md is
the conformance statement.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from scandepot.api.bodies import stream_body
from scandepot.http.deps import ActorDep, CtxDep
from scandepot.ingest import stow

router = APIRouter(tags=["dicomweb"])

_BODY = {
    "requestBody": {
        "required": True,
        "description": 'multipart/related; type="application/dicom": one DICOM instance '
        "(a PS3.10 file) per part.",
        "content": {"multipart/related": {"schema": {"type": "string", "format": "binary"}}},
    },
    "responses": {"200": {"content": {"application/dicom+json": {}}}},
}


async def _store(request: Request, ctx: CtxDep, actor: ActorDep, study: str | None) -> Response:
    url = str(request.url.replace(query=""))
    asked = stow.Request(
        project=request.path_params.get("project"),
        study=study,
        content_type=request.headers.get("content-type"),
        accept=request.headers.get("accept"),
        root_url=url[: url.rfind("/studies")],
    )
    store = await run_in_threadpool(stow.open_store, ctx, actor, asked)
    try:
        await stream_body(request, store.feed, ctx.settings.max_upload_bytes)
        answer = await run_in_threadpool(store.finish)
    finally:
        await run_in_threadpool(store.close)
    return Response(stow.dumps(answer.body), status_code=answer.status, media_type=stow.MEDIA_TYPE)


@router.post("/studies", openapi_extra=_BODY, response_class=Response)
async def store_instances(request: Request, ctx: CtxDep, actor: ActorDep) -> Response:
    """Store instances (PS3.18 10.5), each into the project its root names, or the site-wide
    root: the project each instance routes to."""
    return await _store(request, ctx, actor, None)


@router.post("/studies/{study}", openapi_extra=_BODY, response_class=Response)
async def store_study_instances(
    request: Request, ctx: CtxDep, actor: ActorDep, study: str
) -> Response:
    """Store instances of one study: an instance of another fails alone."""
    return await _store(request, ctx, actor, study)
