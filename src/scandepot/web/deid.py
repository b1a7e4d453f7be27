"""A project's de-identification on its Manage tab: the scripts (an editor that names the
line of a mistake, on and off, versions, a test on a sample instance with a before/after
table) and the pseudonym table (import, export, clear). Owners and site admins only, as
the services decide (docs/deid.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from scandepot.access.actors import Actor
from scandepot.catalog.deid import ScriptKind
from scandepot.context import Context
from scandepot.deid import manage, pseudonyms, sample
from scandepot.deid.manage import ScriptIn
from scandepot.deid.pseudonyms import Format, Mode
from scandepot.errors import Invalid, ScandepotError
from scandepot.web.deps import CtxDep, Posted, PostedDep, Visitor, VisitorDep, mistake, words
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()
D = "/projects/{project}/deid"


def manage_tab(ctx: Context, actor: Actor, project: str) -> dict[str, Any]:
    """What the Manage tab shows of the project's de-identification."""
    return {
        "deid_scripts": manage.in_use(ctx, actor, project),
        "deid_counts": pseudonyms.counts(ctx, actor, project),
    }


def _back(project: str) -> str:
    return f"/projects/{project}?tab=manage#deid"


def _editor(
    request: Request,
    ctx: CtxDep,
    visitor: Visitor,
    project: str,
    purpose: str,
    *,
    status: int = 200,
    typed: dict[str, str] | None = None,
    error: ScandepotError | ValidationError | None = None,
    outcome: sample.Outcome | None = None,
    shown_version: int | None = None,
) -> Response:
    """The editor: what was typed (or the version shown), the versions, an error with
    its line, the outcome of a test."""
    actor = visitor.actor
    versions = manage.versions(ctx, actor, project, purpose)
    shown = None
    if shown_version is not None:
        shown = manage.version(ctx, actor, project, purpose, shown_version)
    elif versions:
        shown = versions[0]
    if typed is None:
        typed = {
            "kind": shown.kind if shown else ScriptKind.PROFILE.value,
            "text": shown.text if shown else "",
            "pixel_text": shown.pixel_text if shown else "",
        }
    return page(
        request,
        visitor,
        "deid_editor.html",
        status=status,
        title=f"{purpose.capitalize()} de-identification script of {project}",
        project=project,
        purpose=purpose,
        kinds=[k.value for k in ScriptKind],
        versions=versions,
        newest=versions[0] if versions else None,
        shown=shown,
        typed=typed,
        error=words(error) if error is not None else None,
        error_line=getattr(error, "line", None),
        outcome=outcome,
    )


@router.get(D + "/scripts/{purpose}")
def editor(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    project: str,
    purpose: str,
    version: int | None = None,
) -> Response:
    return _editor(request, ctx, visitor, project, purpose, shown_version=version)


def _typed(form: Posted) -> dict[str, str]:
    raw = form.form.get("text")
    pixel = form.form.get("pixel_text")
    return {
        "kind": form.text("kind") or "",
        "text": raw if isinstance(raw, str) else "",
        "pixel_text": pixel if isinstance(pixel, str) else "",
    }


@router.post(D + "/scripts/{purpose}")
def save(request: Request, ctx: CtxDep, form: PostedDep, project: str, purpose: str) -> Response:
    typed = _typed(form)
    try:
        data = ScriptIn.model_validate({**typed, "enabled": form.flag("enabled")})
        saved = manage.save(ctx, form.actor, project, purpose, data)
    except (ScandepotError, ValidationError) as exc:
        if not mistake(exc):
            raise
        return _editor(
            request, ctx, form.visitor, project, purpose, status=422, typed=typed, error=exc
        )
    here = f"/projects/{project}/deid/scripts/{purpose}"
    if not saved.changed:
        return redirect(here, ok=f"Nothing changed: version {saved.script.version} stays.")
    state = "in force" if saved.script.enabled else "saved, switched off"
    return redirect(here, ok=f"Version {saved.script.version} is {state}.")


def _sample_of(form: Posted) -> sample.Upload | sample.Archived | None:
    upload = form.form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        try:
            data = upload.file.read(sample.MAX_SAMPLE_BYTES + 1)
        finally:
            upload.file.close()
        return sample.Upload(upload.filename, data)
    session = form.text("session")
    if session:
        return sample.Archived(session, form.text("instance"))
    return None


@router.post(D + "/scripts/{purpose}/test")
def test(request: Request, ctx: CtxDep, form: PostedDep, project: str, purpose: str) -> Response:
    """The typed script (or, with no text, the newest version) on the sample."""
    typed = _typed(form)
    try:
        script: sample.Saved | sample.Given = (
            sample.Given(typed["kind"], typed["text"], typed["pixel_text"])
            if typed["text"].strip()
            else sample.Saved(purpose)
        )
        outcome = sample.run(ctx, form.actor, project, script, _sample_of(form))
    except ScandepotError as exc:
        if not mistake(exc):
            raise
        return _editor(
            request, ctx, form.visitor, project, purpose, status=422, typed=typed, error=exc
        )
    return _editor(request, ctx, form.visitor, project, purpose, typed=typed, outcome=outcome)


@router.post(D + "/scripts/{purpose}/enabled")
def switch(ctx: CtxDep, form: PostedDep, project: str, purpose: str) -> Response:
    enabled = form.flag("enabled")
    try:
        saved = manage.set_enabled(ctx, form.actor, project, purpose, enabled)
    except ScandepotError as exc:
        return back_to_form(_back(project), exc)
    word = "on" if enabled else "off"
    return redirect(
        _back(project),
        ok=f"The {purpose} script is {word} (version {saved.script.version}).",
    )


@router.get(D + "/pseudonyms.csv")
def export(ctx: CtxDep, visitor: VisitorDep, project: str) -> Response:
    text = pseudonyms.export_csv(ctx, visitor.actor, project)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{project}-pseudonyms.csv"',
            "cache-control": "no-store",
        },
    )


def _csv_of(form: Posted) -> tuple[bytes, str]:
    """The file sent, and its name; none: no bytes (the service, having checked who
    asks, says the table has no rows)."""
    upload = form.form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return b"", "the CSV file"
    try:
        return upload.file.read(pseudonyms.MAX_CSV_BYTES + 1), upload.filename
    finally:
        upload.file.close()


@router.post(D + "/pseudonyms")
def import_table(request: Request, ctx: CtxDep, form: PostedDep, project: str) -> Response:
    try:
        mode = Mode(form.text("mode") or Mode.MERGE.value)
        data, name = _csv_of(form)
        report = pseudonyms.import_csv(
            ctx, form.actor, project, data, mode, source=name, form=Format.of(name)
        )
    except (ScandepotError, ValueError) as exc:
        if isinstance(exc, ScandepotError) and not mistake(exc):
            raise
        problem = exc if isinstance(exc, ScandepotError) else Invalid(str(exc), field="mode")
        return page(
            request,
            form.visitor,
            "deid_pseudonyms.html",
            status=422,
            title=f"Pseudonym table of {project} not imported",
            project=project,
            message=problem.message,
            details=problem.details or [],
        )
    return redirect(
        _back(project),
        ok=f"Pseudonym table {report.mode}d: {report.added} added, {report.unchanged} unchanged, "
        f"{report.removed} removed; {report.total} in all.",
    )


@router.post(D + "/pseudonyms/clear")
def clear(ctx: CtxDep, form: PostedDep, project: str) -> Response:
    removed = pseudonyms.clear(ctx, form.actor, project)
    return redirect(_back(project), ok=f"The pseudonym table is cleared ({removed} removed).")
