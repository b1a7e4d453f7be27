"""Archive downloads and their manifests.

/projects/{project}/download | manifest | download-list            a selection in the project
/projects/{project}/sessions/{session}/download | manifest | ...     a session (or its scans)
.../sessions/{session}/scans/{scan}/download | manifest | ...        a scan
.../resources/{resource}/download | manifest | download-list         one resource, every level

``download-list`` answers the download list (XNAT's catalog XML) of the same selection,
for ``scandepot download --list`` to fetch later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.api.v1.resources import LEVELS
from scandepot.api.v1.schemas import API, ManifestOut
from scandepot.archive.resources import OwnerRef
from scandepot.export import deid_download, downloads, lists
from scandepot.export.archives import Format
from scandepot.export.downloads import ProjectTarget, ResourceTarget, Target
from scandepot.export.layouts import Layout
from scandepot.export.manifest import FileRoutes
from scandepot.export.picked import parse_files
from scandepot.export.selection import Selection, scan_choice, split_list
from scandepot.http.responses import ArchiveResponse

P = "/projects/{project}"
ARCHIVE: dict[int | str, dict[str, Any]] = {
    200: {"content": {f.media_type: {} for f in Format}, "description": "The archive"}
}

LIST: dict[int | str, dict[str, Any]] = {
    200: {"content": {lists.MEDIA_TYPE: {}}, "description": "The download list (catalog XML)"}
}

FormatQuery = Annotated[Format, Query(description="zip, tar or tar.gz")]
LayoutQuery = Annotated[Layout, Query(description="Folder layout inside the archive")]
ListQuery = Annotated[
    list[str] | None, Query(description="Comma-separated, or the parameter repeated")
]
Resources = Annotated[
    list[str] | None, Query(description="Resource labels, e.g. DICOM,NIFTI (default: all)")
]
Scans = Annotated[list[str] | None, Query(description="Scan IDs, comma-separated, or ALL")]
Files = Annotated[
    list[str] | None,
    Query(
        description="Single files, named by their route relative to this one, e.g. "
        "scans/3/resources/DICOM/files/0001.dcm on a session; repeat the parameter "
        "(never comma-separated). A session with files named gives those files only."
    ),
]
Deid = Annotated[
    bool,
    Query(
        description="De-identified by the project's export script: DICOM instances only, "
        "the stored files unchanged; 409 when the project has none (docs/downloads.md)"
    ),
]
AllowBurnedIn = Annotated[
    bool,
    Query(
        description="With deid: let out instances that may show burned-in annotation "
        "(refused by default)"
    ),
]
ScanTypes = Annotated[
    str | None, Query(max_length=200, description="RE2 regular expression searched in scan types")
]

router = APIRouter(tags=["downloads"])


# Where the single-file routes serve each file, for clients that fetch files one by one.
FILE_ROUTES = FileRoutes(
    project=f"{API}/projects/{{project}}/resources/{{resource}}/files",
    subject=f"{API}/projects/{{project}}/subjects/{{subject}}/resources/{{resource}}/files",
    session=f"{API}/projects/{{project}}/sessions/{{session}}/resources/{{resource}}/files",
    scan=(
        f"{API}/projects/{{project}}/sessions/{{session}}/scans/{{scan}}"
        "/resources/{resource}/files"
    ),
)


def _archive(
    ctx: Any,
    actor: Any,
    target: Target,
    layout: Layout,
    fmt: Format,
    *,
    deid: bool = False,
    allow_burned_in: bool = False,
) -> Any:
    if deid:
        made = deid_download.prepare(
            ctx, actor, target, layout, fmt, allow_burned_in=allow_burned_in
        )
        return ArchiveResponse(made)
    download = downloads.prepare(ctx, actor, target, layout, fmt, routes=FILE_ROUTES)
    return ArchiveResponse(download)


def _list(request: Request, ctx: Any, actor: Any, target: Target, layout: Layout) -> Response:
    server = str(request.base_url)
    saved = lists.download_list(ctx, actor, target, layout, routes=FILE_ROUTES, server=server)
    disposition = f'attachment; filename="{saved.filename}"'
    return Response(
        saved.body, media_type=lists.MEDIA_TYPE, headers={"content-disposition": disposition}
    )


def project_target(
    project: str,
    sessions: ListQuery = None,
    subjects: ListQuery = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    scans: Scans = None,
    scan_types: ScanTypes = None,
    resources: Resources = None,
    files: Files = None,
) -> ProjectTarget:
    chosen = split_list(sessions, field="sessions")
    one = chosen[0] if len(chosen) == 1 else None
    selection = Selection(
        sessions=chosen,
        subjects=split_list(subjects, field="subjects"),
        date_from=date_from,
        date_to=date_to,
        scans=scan_choice(scans),
        scan_types=scan_types,
        resources=split_list(resources, field="resources"),
        files=parse_files(files, route="project", session=one),
    )
    return ProjectTarget(project, selection)


def session_target(
    project: str,
    session: str,
    scans: Scans = None,
    scan_types: ScanTypes = None,
    resources: Resources = None,
    files: Files = None,
) -> ProjectTarget:
    selection = Selection(
        sessions=split_list([session], field="session"),
        scans=scan_choice(scans),
        scan_types=scan_types,
        resources=split_list(resources, field="resources"),
        files=parse_files(files, route="session", session=session),
    )
    return ProjectTarget(project, selection)


def scan_target(
    project: str, session: str, scan: str, resources: Resources = None, files: Files = None
) -> ProjectTarget:
    selection = Selection(
        sessions=split_list([session], field="session"),
        scans=split_list([scan], field="scan"),
        resources=split_list(resources, field="resources"),
        files=parse_files(files, route="scan", session=session, scan=scan),
    )
    return ProjectTarget(project, selection)


_SCOPES: list[tuple[str, str, Callable[..., ProjectTarget]]] = [
    ("project", P, project_target),
    ("session", P + "/sessions/{session}", session_target),
    ("scan", P + "/sessions/{session}/scans/{scan}", scan_target),
]


def _add_selection_routes(name: str, prefix: str, dep: Callable[..., ProjectTarget]) -> None:
    @router.get(prefix + "/download", name=f"download_{name}", responses=ARCHIVE)
    def download(
        ctx: CtxDep,
        actor: ActorDep,
        format: FormatQuery = Format.ZIP,
        layout: LayoutQuery = Layout.TREE,
        deid: Deid = False,
        allow_burned_in: AllowBurnedIn = False,
        target: ProjectTarget = Depends(dep),
    ) -> StreamingResponse:
        response: StreamingResponse = _archive(
            ctx, actor, target, layout, format, deid=deid, allow_burned_in=allow_burned_in
        )
        return response

    @router.get(prefix + "/manifest", name=f"{name}_manifest", response_model=ManifestOut)
    def manifest(
        ctx: CtxDep,
        actor: ActorDep,
        layout: LayoutQuery = Layout.TREE,
        target: ProjectTarget = Depends(dep),
    ) -> dict[str, Any]:
        return downloads.get_manifest(ctx, actor, target, layout, routes=FILE_ROUTES)

    @router.get(prefix + "/download-list", name=f"{name}_download_list", responses=LIST)
    def download_list(
        request: Request,
        ctx: CtxDep,
        actor: ActorDep,
        layout: LayoutQuery = Layout.TREE,
        target: ProjectTarget = Depends(dep),
    ) -> Response:
        return _list(request, ctx, actor, target, layout)


def _add_resource_routes(level: str, prefix: str, ref_dep: Callable[..., OwnerRef]) -> None:
    base = prefix + "/resources/{resource}"

    @router.get(base + "/download", name=f"download_{level}_resource", responses=ARCHIVE)
    def download(
        ctx: CtxDep,
        actor: ActorDep,
        resource: str,
        format: FormatQuery = Format.ZIP,
        layout: LayoutQuery = Layout.TREE,
        deid: Deid = False,
        allow_burned_in: AllowBurnedIn = False,
        ref: OwnerRef = Depends(ref_dep),
    ) -> StreamingResponse:
        target = ResourceTarget(ref, resource)
        response: StreamingResponse = _archive(
            ctx, actor, target, layout, format, deid=deid, allow_burned_in=allow_burned_in
        )
        return response

    @router.get(base + "/manifest", name=f"{level}_resource_manifest", response_model=ManifestOut)
    def manifest(
        ctx: CtxDep,
        actor: ActorDep,
        resource: str,
        layout: LayoutQuery = Layout.TREE,
        ref: OwnerRef = Depends(ref_dep),
    ) -> dict[str, Any]:
        target = ResourceTarget(ref, resource)
        return downloads.get_manifest(ctx, actor, target, layout, routes=FILE_ROUTES)

    @router.get(base + "/download-list", name=f"{level}_resource_download_list", responses=LIST)
    def download_list(
        request: Request,
        ctx: CtxDep,
        actor: ActorDep,
        resource: str,
        layout: LayoutQuery = Layout.TREE,
        ref: OwnerRef = Depends(ref_dep),
    ) -> Response:
        return _list(request, ctx, actor, ResourceTarget(ref, resource), layout)


for _name, _prefix, _dep in _SCOPES:
    _add_selection_routes(_name, _prefix, _dep)
for _level, _prefix, _ref_dep in LEVELS:
    _add_resource_routes(_level, _prefix, _ref_dep)
