"""WADO-RS (PS3.18 §10.4): instances, metadata, frames, bulk data, rendered, thumbnails.

Mounted under both service roots; docs/dicomweb.md is the conformance statement.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from scandepot.api.dicomweb.deps import ReadScope
from scandepot.errors import BadRequest
from scandepot.http.deps import CtxDep
from scandepot.http.responses import FileBodyResponse
from scandepot.retrieve import frames, metadata, rendered, wado
from scandepot.retrieve.multipart import Multipart

router = APIRouter(tags=["dicomweb"])
ST = "/studies/{study}"
SE = ST + "/series/{series}"
IN = SE + "/instances/{instance}"
JSON = "application/dicom+json"


def accept_of(request: Request) -> str | None:
    """The media types asked for: the ``accept`` query parameter (PS3.18 §8.3.3.1, for
    links), else the ``Accept`` header."""
    return request.query_params.get("accept") or request.headers.get("accept")


AcceptHeader = Annotated[str | None, Depends(accept_of)]
WindowQ = Annotated[
    str | None, Query(description="center,width,function (linear, linear-exact, sigmoid)")
]
QualityQ = Annotated[str | None, Query(description="JPEG quality, 1-100")]
ViewportQ = Annotated[str | None, Query(description="width,height in pixels")]


def _rendering(
    accept: AcceptHeader = None,
    window: WindowQ = None,
    quality: QualityQ = None,
    viewport: ViewportQ = None,
) -> rendered.Rendering:
    """The picture asked for: media type, window, quality and size, checked."""
    return rendered.rendering(accept, window, quality, viewport)


def _thumbnail_rendering(
    accept: AcceptHeader = None, viewport: ViewportQ = None
) -> rendered.Rendering:
    return rendered.rendering(accept, viewport=viewport)


Rendering = Annotated[rendered.Rendering, Depends(_rendering)]
Thumbnail = Annotated[rendered.Rendering, Depends(_thumbnail_rendering)]


def _sent(body: Multipart) -> Response:
    return FileBodyResponse(body, media_type=body.media_type)


def _root(request: Request) -> str:
    """The service root of this request (site-wide or a project's), ending in '/'."""
    path = request.url.path
    return str(request.base_url).rstrip("/") + path[: path.index("/studies/") + 1]


@router.get(ST)
def retrieve_study(
    ctx: CtxDep, scope: ReadScope, study: str, accept: AcceptHeader = None
) -> Response:
    return _sent(wado.retrieve(ctx, scope, accept, study))


@router.get(SE)
def retrieve_series(
    ctx: CtxDep, scope: ReadScope, study: str, series: str, accept: AcceptHeader = None
) -> Response:
    return _sent(wado.retrieve(ctx, scope, accept, study, series))


@router.get(IN)
def retrieve_instance(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    instance: str,
    accept: AcceptHeader = None,
) -> Response:
    return _sent(wado.retrieve(ctx, scope, accept, study, series, instance))


def _json(data: bytes) -> Response:
    return Response(data, media_type=JSON)


@router.get(ST + "/metadata")
def study_metadata(
    request: Request, ctx: CtxDep, scope: ReadScope, study: str, accept: AcceptHeader = None
) -> Response:
    found = metadata.metadata(ctx, scope, _root(request), study, accept_header=accept)
    return _json(found)


@router.get(SE + "/metadata")
def series_metadata(
    request: Request,
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    accept: AcceptHeader = None,
) -> Response:
    found = metadata.metadata(ctx, scope, _root(request), study, series, accept_header=accept)
    return _json(found)


@router.get(IN + "/metadata")
def instance_metadata(
    request: Request,
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    instance: str,
    accept: AcceptHeader = None,
) -> Response:
    root = _root(request)
    found = metadata.metadata(ctx, scope, root, study, series, instance, accept_header=accept)
    return _json(found)


@router.get(IN + "/frames/{frame_list}")
def retrieve_frames(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    instance: str,
    frame_list: str,
    accept: AcceptHeader = None,
) -> Response:
    return _sent(frames.retrieve_frames(ctx, scope, accept, study, series, instance, frame_list))


@router.get(IN + "/bulkdata/{tag_path:path}")
def retrieve_bulkdata(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    instance: str,
    tag_path: str,
    accept: AcceptHeader = None,
) -> Response:
    return _sent(frames.retrieve_bulkdata(ctx, scope, accept, study, series, instance, tag_path))


def _picture(data: bytes, asked: rendered.Rendering) -> Response:
    return Response(data, media_type=asked.media_type)


@router.get(ST + "/rendered")
def study_rendered(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    asked: Rendering,
) -> Response:
    return _picture(rendered.rendered(ctx, scope, asked, study), asked)


@router.get(SE + "/rendered")
def series_rendered(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    asked: Rendering,
) -> Response:
    return _picture(rendered.rendered(ctx, scope, asked, study, series), asked)


@router.get(IN + "/rendered")
def instance_rendered(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    instance: str,
    asked: Rendering,
) -> Response:
    return _picture(rendered.rendered(ctx, scope, asked, study, series, instance), asked)


@router.get(IN + "/frames/{frame}/rendered")
def frame_rendered(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    instance: str,
    frame: str,
    asked: Rendering,
) -> Response:
    if not frame.isdigit() or int(frame) < 1:
        raise BadRequest("A rendered frame is one frame number, 1 and up.", field="frame")
    found = rendered.rendered(ctx, scope, asked, study, series, instance, int(frame))
    return _picture(found, asked)


def _thumbnail(
    ctx: CtxDep,
    scope: ReadScope,
    asked: rendered.Rendering,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> Response:
    found = rendered.rendered(ctx, scope, asked, study, series, instance, thumbnail=True)
    return _picture(found, asked)


@router.get(ST + "/thumbnail")
def study_thumbnail(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    asked: Thumbnail,
) -> Response:
    return _thumbnail(ctx, scope, asked, study)


@router.get(SE + "/thumbnail")
def series_thumbnail(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    asked: Thumbnail,
) -> Response:
    return _thumbnail(ctx, scope, asked, study, series)


@router.get(IN + "/thumbnail")
def instance_thumbnail(
    ctx: CtxDep,
    scope: ReadScope,
    study: str,
    series: str,
    instance: str,
    asked: Thumbnail,
) -> Response:
    return _thumbnail(ctx, scope, asked, study, series, instance)
