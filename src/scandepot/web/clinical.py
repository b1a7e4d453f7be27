"""The clinical data of a project on its pages: the Manage tab's schemas, export links and
CSV import (docs/clinical.md); the subject page shows its record (web/sessions.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from scandepot.access.actors import Actor
from scandepot.clinical import csv_import, csv_values, schemas
from scandepot.clinical.csv_import import Mode, Options
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.web.deps import CtxDep, Posted, PostedDep, mistake
from scandepot.web.render import page, redirect

router = APIRouter()


def manage_tab(ctx: Context, actor: Actor, project: str) -> dict[str, Any]:
    """What the Manage tab shows of the project's clinical data."""
    return {"clinical_schemas": schemas.in_force_all(ctx, actor, project)}


def _file(form: Posted) -> bytes:
    upload = form.form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return b""  # the service, having checked who asks, says the file is empty
    try:
        return upload.file.read(csv_values.MAX_CSV_BYTES + 1)
    finally:
        upload.file.close()


@router.post("/projects/{project}/clinical/import")
def import_records(request: Request, ctx: CtxDep, form: PostedDep, project: str) -> Response:
    options = Options(
        subject_column=form.text("subject_column") or "subject",
        partial=form.flag("partial"),
        ignore_unknown=form.flag("ignore_unknown"),
        mode=Mode.REPLACE if form.text("mode") == "replace" else Mode.MERGE,
    )
    try:
        report = csv_import.import_csv(ctx, form.actor, project, _file(form), options)
    except ScandepotError as exc:
        if not mistake(exc):
            raise
        return page(
            request,
            form.visitor,
            "clinical_import.html",
            status=422,
            title=f"Clinical records of {project} not imported",
            project=project,
            message=exc.message,
            details=exc.details or [],
            report=None,
        )
    counts = {s: report.count(s) for s in ("created", "changed", "unchanged", "refused")}
    if report.written and not counts["refused"]:
        said = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        return redirect(f"/projects/{project}?tab=manage#clinical", ok=f"Imported: {said}.")
    return page(
        request,
        form.visitor,
        "clinical_import.html",
        status=200 if report.written else 422,
        title=f"Clinical records of {project}: import report",
        project=project,
        message=None,
        details=[],
        report=report,
        counts=counts,
    )
