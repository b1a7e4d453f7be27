"""The image viewer (OHIF) under /viewer: its page, its configuration and its files.

``/viewer/projects/{project}/...`` is the viewer of one project: OHIF on the project's
DICOMweb root, for whoever may read the project; anyone else is refused as on the
project's pages (sign in first, 404, 403), and the DICOMweb routes refuse them too.
``/viewer/...`` holds the viewer's files (the same for everyone) and the site-wide viewer,
on ``/dicomweb``: every study the visitor may read. A path under either that names no
file (no dot in its last part, such as ``/viewer/projects/P/viewer?StudyInstanceUIDs=``)
is one of OHIF's own routes: the page is sent, and the browser routes. docs/dicomweb.md,
"The viewer", says what OHIF asks of the server.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from scandepot.archive import projects
from scandepot.errors import NotFound
from scandepot.web import ohif
from scandepot.web.deps import CtxDep, VisitorDep

router = APIRouter()
V = ohif.BASE
# Content-hashed names never change; anything else is checked again each time it is used.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NO_STORE = {"cache-control": "no-store"}  # the page and its configuration: access decided


@router.get(V + "/projects/{project}/" + ohif.CONFIG)
def project_config(ctx: CtxDep, visitor: VisitorDep, project: str) -> Response:
    return _config(projects.readable(ctx, visitor.actor, project))


@router.get(V + "/projects/{project}")
@router.get(V + "/projects/{project}/{route:path}")
def project_viewer(ctx: CtxDep, visitor: VisitorDep, project: str, route: str = "") -> Response:
    label = projects.readable(ctx, visitor.actor, project)
    return _page(ctx, label, route)


@router.get(V + "/" + ohif.CONFIG)
def site_config() -> Response:
    return _config(None)


@router.get(V + "/{name:path}")
def viewer_file(request: Request, ctx: CtxDep, name: str) -> Response:
    if _is_route(name) or name == "index.html":
        return _page(ctx, None, name)
    return _send(request, _installed(ctx).asset(name))


def _installed(ctx: CtxDep) -> ohif.Installed:
    return ohif.Installed.at(ctx.settings.viewer_dir)


def _is_route(path: str) -> bool:
    return "." not in path.rsplit("/", 1)[-1]


def _page(ctx: CtxDep, project: str | None, route: str) -> Response:
    if not _is_route(route) and route != "index.html":
        raise NotFound(f"There is no file '{route}' in the viewer.")
    config = f"{ohif.view_base(project)}/{ohif.CONFIG}"
    html = _installed(ctx).page(config)
    return Response(html, media_type="text/html; charset=utf-8", headers=NO_STORE)


def _config(project: str | None) -> Response:
    return Response(
        ohif.config_script(project),
        media_type="text/javascript; charset=utf-8",
        headers=NO_STORE,
    )


def _send(request: Request, asset: ohif.Asset) -> Response:
    compressed = asset.compressible and _takes_gzip(request)
    etag = asset.etag[:-1] + '-gz"' if compressed else asset.etag  # one per representation
    headers = {"etag": etag, "cache-control": IMMUTABLE if asset.immutable else REVALIDATE}
    if asset.compressible:
        headers["vary"] = "accept-encoding"
    asked = request.headers.get("if-none-match", "")
    if etag in [tag.strip().removeprefix("W/") for tag in asked.split(",")]:
        return Response(status_code=304, headers=headers)
    if compressed:
        headers["content-encoding"] = "gzip"
        return Response(asset.gzipped(), media_type=asset.media_type, headers=headers)
    if asset.body is not None:
        return Response(asset.body, media_type=asset.media_type, headers=headers)
    return FileResponse(asset.path, media_type=asset.media_type, headers=headers)


def _takes_gzip(request: Request) -> bool:
    for coding in request.headers.get("accept-encoding", "").split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
