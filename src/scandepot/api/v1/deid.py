"""/api/v1/projects/{project}/deid: a project's de-identification scripts (by version),
the test on a sample instance, and its pseudonym table; for those who may configure the
project (docs/deid.md)."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from scandepot.api.bodies import stream_body
from scandepot.api.deps import ActorDep, CtxDep
from scandepot.deid import manage, pseudonyms, sample
from scandepot.deid.manage import ScriptIn, ScriptVersion
from scandepot.deid.pseudonyms import Format, Mode
from scandepot.errors import NotFound

router = APIRouter(prefix="/projects/{project}/deid", tags=["de-identification"])
S = "/scripts/{purpose}"


class VersionOut(BaseModel):
    project: str
    purpose: str
    version: int
    kind: str
    sha256: str
    enabled: bool
    created_by: str
    created_at: dt.datetime
    label: str


class ScriptOut(VersionOut):
    text: str
    pixel_text: str


class SavedOut(ScriptOut):
    changed: bool  # false: the same as the newest version; nothing was written


class EnabledIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class RowOut(BaseModel):
    tag: str
    keyword: str
    before: str | None
    after: str | None
    action: str


class FindingOut(BaseModel):
    path: str
    keyword: str
    reason: str


class TestOut(BaseModel):
    script: str
    sample: str
    status: str  # passed, not_deidentified, refused
    passed: bool
    message: str
    rows: list[RowOut]
    findings: list[FindingOut]


class ImportRowOut(BaseModel):
    line: int
    kind: str
    status: str


class ImportOut(BaseModel):
    mode: str
    added: int
    unchanged: int
    removed: int
    total: int
    rows: list[ImportRowOut]


def _version(view: ScriptVersion) -> VersionOut:
    return VersionOut(
        project=view.project,
        purpose=view.purpose,
        version=view.version,
        kind=view.kind,
        sha256=view.sha256,
        enabled=view.enabled,
        created_by=view.created_by,
        created_at=view.created_at,
        label=view.label,
    )


def _script(view: ScriptVersion) -> ScriptOut:
    return ScriptOut(**_version(view).model_dump(), text=view.text, pixel_text=view.pixel_text)


@router.get("/scripts", response_model=list[ScriptOut])
def list_scripts(ctx: CtxDep, actor: ActorDep, project: str) -> list[ScriptOut]:
    found = manage.in_use(ctx, actor, project).values()
    return [_script(view) for view in found if view is not None]


@router.get(S, response_model=ScriptOut)
def get_script(ctx: CtxDep, actor: ActorDep, project: str, purpose: str) -> ScriptOut:
    view = manage.newest(ctx, actor, project, purpose)
    if view is None:
        raise NotFound(f"Project '{project}' has no {purpose} script.", field="purpose")
    return _script(view)


@router.put(S, response_model=SavedOut)
def save_script(
    ctx: CtxDep, actor: ActorDep, project: str, purpose: str, body: ScriptIn
) -> SavedOut:
    saved = manage.save(ctx, actor, project, purpose, body)
    return SavedOut(**_script(saved.script).model_dump(), changed=saved.changed)


@router.patch(S, response_model=SavedOut)
def switch_script(
    ctx: CtxDep, actor: ActorDep, project: str, purpose: str, body: EnabledIn
) -> SavedOut:
    saved = manage.set_enabled(ctx, actor, project, purpose, body.enabled)
    return SavedOut(**_script(saved.script).model_dump(), changed=saved.changed)


@router.get(S + "/versions", response_model=list[VersionOut])
def list_versions(ctx: CtxDep, actor: ActorDep, project: str, purpose: str) -> list[VersionOut]:
    return [_version(v) for v in manage.versions(ctx, actor, project, purpose)]


@router.get(S + "/versions/{version}", response_model=ScriptOut)
def get_version(
    ctx: CtxDep, actor: ActorDep, project: str, purpose: str, version: int
) -> ScriptOut:
    return _script(manage.version(ctx, actor, project, purpose, version))


def _test_out(outcome: sample.Outcome) -> TestOut:
    return TestOut(
        script=outcome.script,
        sample=outcome.sample,
        status=outcome.status,
        passed=outcome.passed,
        message=outcome.message,
        rows=[
            RowOut(tag=r.tag, keyword=r.keyword, before=r.before, after=r.after, action=r.action)
            for r in outcome.rows
        ],
        findings=[
            FindingOut(path=f.path, keyword=f.keyword, reason=f.reason)
            for f in outcome.report.findings
        ],
    )


def choose(
    *,
    purpose: str | None,
    version: int | None,
    kind: str | None,
    text: str | None,
    pixel_text: str | None,
) -> sample.Saved | sample.Given | None:
    """The script a test runs: a text given, or a purpose's saved version."""
    if text is not None and text.strip():
        return sample.Given(kind or "", text, pixel_text or "")
    return sample.Saved(purpose, version) if purpose else None


@router.post("/test", response_model=TestOut)
async def test_script(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    purpose: Annotated[str | None, Form()] = None,
    version: Annotated[int | None, Form()] = None,
    kind: Annotated[str | None, Form()] = None,
    text: Annotated[str | None, Form(max_length=manage.MAX_SCRIPT_CHARS)] = None,
    pixel_text: Annotated[str | None, Form(max_length=manage.MAX_SCRIPT_CHARS)] = None,
    session: Annotated[str | None, Form(max_length=255)] = None,
    instance: Annotated[str | None, Form(max_length=64)] = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> TestOut:
    script = choose(purpose=purpose, version=version, kind=kind, text=text, pixel_text=pixel_text)
    chosen: sample.Upload | sample.Archived | None = None
    if file is not None and file.filename:
        data = await file.read(sample.MAX_SAMPLE_BYTES + 1)
        chosen = sample.Upload(file.filename, data)
    elif session:
        chosen = sample.Archived(session, instance or None)
    outcome = await run_in_threadpool(sample.run, ctx, actor, project, script, chosen)
    return _test_out(outcome)


@router.get(
    "/pseudonyms",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "kind,original,pseudonym"}},
)
def export_pseudonyms(ctx: CtxDep, actor: ActorDep, project: str) -> Response:
    text = pseudonyms.export_csv(ctx, actor, project)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{project}-pseudonyms.csv"'},
    )


@router.post(
    "/pseudonyms",
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A CSV of kind,original,pseudonym, or (format=properties) CTP's "
            "lookup table; UTF-8.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_pseudonyms(
    request: Request,
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    mode: Annotated[Mode, Query(description="merge: add the rows; replace: the whole table")] = (
        Mode.MERGE
    ),
    format: Annotated[
        Format, Query(description="csv: kind,original,pseudonym; properties: CTP's lookup table")
    ] = Format.CSV,
) -> ImportOut:
    body = bytearray()
    await stream_body(request, body.extend, pseudonyms.MAX_CSV_BYTES)
    report = await run_in_threadpool(
        partial(pseudonyms.import_csv, form=format), ctx, actor, project, bytes(body), mode
    )
    return ImportOut(
        mode=report.mode,
        added=report.added,
        unchanged=report.unchanged,
        removed=report.removed,
        total=report.total,
        rows=[ImportRowOut(line=r.line, kind=r.kind, status=r.status) for r in report.rows],
    )


@router.delete("/pseudonyms", status_code=status.HTTP_204_NO_CONTENT)
def clear_pseudonyms(ctx: CtxDep, actor: ActorDep, project: str) -> None:
    pseudonyms.clear(ctx, actor, project)
