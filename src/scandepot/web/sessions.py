"""Subject and session pages: scans, acquisition details, files, quality, notes, jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.access.permissions import Action, Level
from scandepot.archive import files, overview, projects, scans, sessions, subjects, thumbnails
from scandepot.archive.resources import OwnerRef
from scandepot.archive.scans import ScanFields
from scandepot.archive.sessions import SessionFields
from scandepot.catalog.archive import ScanQuality
from scandepot.catalog.paging import PageRequest
from scandepot.catalog.transfers import ShareKind
from scandepot.clinical import records
from scandepot.clinical.records import Target
from scandepot.errors import NotFound, ScandepotError
from scandepot.export.archives import Format
from scandepot.pipelines import autolaunch, config, jobs, results
from scandepot.pipelines.jobs import LaunchRequest
from scandepot.transfers import shares
from scandepot.web.deps import CtxDep, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()
P = "/projects/{project}"


@router.get(P + "/subjects/{subject}")
def subject_page(
    request: Request, ctx: CtxDep, visitor: VisitorDep, project: str, subject: str
) -> Response:
    found = subjects.get(ctx, visitor.actor, project, subject)
    held = sessions.list_sessions(
        ctx, visitor.actor, project, PageRequest(limit=1000, sort="date"), subject=subject
    )
    return page(
        request,
        visitor,
        "subject.html",
        title=f"Subject {subject}",
        s=found,
        sessions=held,
        project=project,
        shares=shares.shares_of(ctx, visitor.actor, project, ShareKind.SUBJECT, subject),
        clinical=records.shown(ctx, visitor.actor, Target(project, subject)),
    )


@router.get(P + "/sessions/{session}")
def session_page(
    request: Request, ctx: CtxDep, visitor: VisitorDep, project: str, session: str
) -> Response:
    actor = visitor.actor
    seen = overview.session_overview(ctx, actor, project, session)
    found_jobs = jobs.list_jobs(ctx, actor, project, PageRequest(limit=50), session=session)
    launchable = []
    if seen.level >= Level.WRITE:
        launchable = [c for c in config.list_configs(ctx, actor, project) if c.enabled]
    return page(
        request,
        visitor,
        "session.html",
        title=f"Session {session}",
        o=seen,
        e=seen.session,
        jobs=found_jobs,
        waiting=autolaunch.waiting(found_jobs.items),
        qa=results.qa_metrics(ctx, actor, project, session),
        launchable=launchable,
        qualities=list(ScanQuality),
        may_edit=seen.level >= Action.EDIT.level,
        project=project,
        shares=shares.shares_of(ctx, actor, project, ShareKind.SESSION, session),
    )


@router.get(P + "/sessions/{session}/resources/{resource}")
def resource_page(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    project: str,
    session: str,
    resource: str,
    scan: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    ref = OwnerRef(project, session=session, scan=scan)
    listed = files.list_files(ctx, visitor.actor, ref, resource, PageRequest(500, offset))
    base = f"/api/v1/projects/{project}/sessions/{session}"
    if scan is not None:
        base += f"/scans/{scan}"
    return page(
        request,
        visitor,
        "resource.html",
        title=f"{resource} of {ref.describe()}",
        ref=ref,
        resource=resource,
        found=listed,
        files_url=f"{base}/resources/{resource}/files",
        formats=list(Format),
    )


@router.get(P + "/sessions/{session}/scans/{scan}/thumbnail.png")
def scan_thumbnail(
    request: Request, ctx: CtxDep, visitor: VisitorDep, project: str, session: str, scan: str
) -> Response:
    source = thumbnails.find_source(ctx, visitor.actor, project, session, scan)
    tag = thumbnails.etag(source)
    headers = {"etag": tag, "cache-control": "private, max-age=300"}
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)  # not drawn again
    drawn = thumbnails.picture(ctx, source)  # drawn on its first view only, then kept
    return Response(drawn.png, media_type="image/png", headers=headers)


def _session_url(project: str, session: str) -> str:
    return f"/projects/{project}/sessions/{session}"


@router.post(P + "/sessions/{session}/note")
def session_note(ctx: CtxDep, form: PostedDep, project: str, session: str) -> Response:
    back = _session_url(project, session)
    try:
        sessions.update(ctx, form.actor, project, session, SessionFields(note=form.text("note")))
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back + "#notes", ok="The note is saved.")


@router.post(P + "/sessions/{session}/scans/{scan}")
def scan_quality(ctx: CtxDep, form: PostedDep, project: str, session: str, scan: str) -> Response:
    back = _session_url(project, session)
    try:
        given = {"quality": form.text("quality")}
        if "note" in form.form:
            given["note"] = form.text("note")
        fields = ScanFields.model_validate(given)
        scans.update(ctx, form.actor, project, session, scan, fields)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back + f"#scan-{scan}", ok=f"Scan {scan} is marked {fields.quality}.")


@router.post(P + "/sessions/{session}/jobs")
def job_launch(ctx: CtxDep, form: PostedDep, project: str, session: str) -> Response:
    back = _session_url(project, session)
    pipeline = form.text("pipeline") or ""
    try:
        job = jobs.launch(
            ctx, form.actor, project, session, LaunchRequest(pipeline), scan=form.text("scan")
        )
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back + "#jobs", ok=f"Job {job.id} ({pipeline}) is queued.")


@router.get(P + "/jobs/{job}")
def job_page(
    request: Request, ctx: CtxDep, visitor: VisitorDep, project: str, job: int
) -> Response:
    found = jobs.get(ctx, visitor.actor, project, job)
    level = projects.get(ctx, visitor.actor, project).level
    return page(
        request,
        visitor,
        "job.html",
        title=f"Job {job}",
        job=found,
        project=project,
        may_launch=level >= Action.LAUNCH.level,
    )


@router.post(P + "/jobs/{job}/{what}")
def job_action(ctx: CtxDep, form: PostedDep, project: str, job: int, what: str) -> Response:
    back = f"/projects/{project}/jobs/{job}"
    try:
        if what == "rerun":
            again = jobs.rerun(ctx, form.actor, project, job)
            return redirect(f"/projects/{project}/jobs/{again.id}", ok=f"Job {again.id} is queued.")
        if what == "cancel":
            jobs.cancel(ctx, form.actor, project, job)
            return redirect(back, ok=f"Job {job} is cancelled, or asked to stop.")
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    raise NotFound(f"No action '{what}' on jobs.")
