"""The upload page (the compressed uploader) and the download page."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from scandepot.access.permissions import Level, require_signed_in
from scandepot.archive import projects, sessions
from scandepot.catalog.paging import PageRequest
from scandepot.export.archives import Format
from scandepot.export.choices import MAX_FILES, download_choices, exact_types, session_files
from scandepot.export.layouts import Layout
from scandepot.web.deps import CtxDep, VisitorDep
from scandepot.web.projects import search
from scandepot.web.render import page, redirect

router = APIRouter()

Label = Annotated[str | None, Query(max_length=64)]
Labels = Annotated[list[str] | None, Query(max_length=1000)]
Names = Annotated[list[str] | None, Query(max_length=MAX_FILES)]


@router.get("/upload")
def upload_page(
    request: Request, ctx: CtxDep, visitor: VisitorDep, project: Label = None
) -> Response:
    require_signed_in(visitor.actor)
    found = projects.list_projects(ctx, visitor.actor, PageRequest(limit=1000, sort="id"))
    writable = [v for v in found.items if v.level >= Level.WRITE]
    return page(
        request,
        visitor,
        "upload.html",
        title="Upload",
        projects=writable,
        chosen=project,
    )


@router.get("/download")
def download_page(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    project: Label = None,
    label: Label = None,
    session: Labels = None,
) -> Response:
    found = projects.list_projects(ctx, visitor.actor, PageRequest(limit=1000, sort="id"))
    readable = [v for v in found.items if v.level >= Level.READ]
    context: dict[str, Any] = {
        "projects": readable,
        "chosen": project,
        "label": label or "",
        "picked": session,
    }
    if project:
        context["sessions"] = sessions.list_sessions(
            ctx, visitor.actor, project, PageRequest(limit=1000), label=search(label)
        )
        context["choices"] = download_choices(ctx, visitor.actor, project)
        context["layouts"] = list(Layout)
        context["formats"] = list(Format)
        if session and len(session) == 1:  # one session: its files, to tick single ones
            context["files"] = session_files(ctx, visitor.actor, project, session[0])
            context["max_files"] = MAX_FILES
    return page(request, visitor, "download.html", title="Download", **context)


@router.get("/download/archive")
def download_archive(
    project: Annotated[str, Query(max_length=64)],
    session: Labels = None,
    resource: Labels = None,
    scan_type: Labels = None,
    file: Names = None,
    layout: Layout = Layout.TREE,
    format: Format = Format.ZIP,
    save: Literal["list"] | None = None,
    deid: bool = False,
    allow_burned_in: bool = False,
) -> Response:
    """Turn the page's choices into the download route's query; the archive streams from
    there, checked there. Files are named relative to the project, as the page lists them
    (a ticked file chooses its session, which then gives those files only). **Save as
    list** (``save=list``) goes to the download-list route with the same choices."""
    if not session and not file:
        back = f"/download?project={quote(project, safe='')}"
        return redirect(back, error="Choose at least one session or file to download.")
    if deid and save == "list":
        back = f"/download?project={quote(project, safe='')}"
        return redirect(
            back,
            error="A de-identified download cannot be saved as a list: its files are made "
            "as they are sent. Download it instead.",
        )
    query: list[tuple[str, str]] = [("layout", layout.value)]
    if save is None:
        query.append(("format", format.value))
    if deid:
        query += [("deid", "true")] + ([("allow_burned_in", "true")] if allow_burned_in else [])
    query += [("sessions", s) for s in session or []]
    query += [("files", f) for f in file or []]
    query += [("resources", r) for r in resource or []]
    pattern = exact_types(scan_type or [])
    if pattern:
        query.append(("scan_types", pattern))
    route = "download-list" if save == "list" else "download"
    url = f"/api/v1/projects/{quote(project, safe='')}/{route}?{urlencode(query)}"
    return RedirectResponse(url, status_code=303)
