"""/api/v1/projects/{project}/clinical: a project's clinical variables (a JSON Schema per
level), the records of its subjects and sessions, CSV import and CSV/JSON export
(docs/clinical.md)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from scandepot.api.bodies import stream_body
from scandepot.api.deps import ActorDep, CtxDep
from scandepot.clinical import csv_import, csv_values, export, records, schemas
from scandepot.clinical.csv_import import ImportReport, Mode, Options
from scandepot.clinical.records import RecordView, Target
from scandepot.errors import Invalid

router = APIRouter(prefix="/projects/{project}", tags=["clinical data"])
SCHEMA = "/clinical/schema/{level}"
SUBJECT = "/subjects/{subject}/clinical"
SESSION = "/sessions/{session}/clinical"


class VariableOut(BaseModel):
    name: str
    type: str  # string, number, integer, boolean, date
    unit: str | None
    required: bool
    identifying: bool
    enum: list[Any] | None
    title: str | None


class ProblemOut(BaseModel):
    path: str
    message: str


class NonconformingOut(BaseModel):
    subject: str
    session: str | None
    version: int
    schema_version: int
    problems: list[ProblemOut]


class ConformanceOut(BaseModel):
    schema_version: int
    records: int
    failing: int
    nonconforming: list[NonconformingOut]


def _schema_json(view: schemas.SchemaVersion) -> dict[str, Any]:
    variables = [
        VariableOut(
            name=v.name,
            type="date" if v.is_date else v.type,
            unit=v.unit,
            required=v.required,
            identifying=v.identifying,
            enum=v.enum,
            title=v.title,
        ).model_dump(mode="json")
        for v in view.variables
    ]
    return {
        "project": view.project,
        "level": view.level,
        "version": view.version,
        "created_by": view.created_by,
        "created_at": view.created_at.isoformat(),
        "schema": view.schema,
        "variables": variables,
    }


def _conformance(found: schemas.Conformance) -> dict[str, Any]:
    return ConformanceOut(
        schema_version=found.schema_version,
        records=found.records,
        failing=found.failing,
        nonconforming=[
            NonconformingOut(
                subject=n.subject,
                session=n.session,
                version=n.version,
                schema_version=n.schema_version,
                problems=[ProblemOut(path=p.path, message=p.message) for p in n.problems],
            )
            for n in found.nonconforming
        ],
    ).model_dump(mode="json")


@router.get("/clinical/schema")
def get_schemas(ctx: CtxDep, actor: ActorDep, project: str) -> dict[str, Any]:
    """The schema in force of each level (null for a level without one)."""
    found = schemas.in_force_all(ctx, actor, project)
    return {level: _schema_json(v) if v else None for level, v in found.items()}


@router.get(SCHEMA)
def get_schema(ctx: CtxDep, actor: ActorDep, project: str, level: str) -> dict[str, Any]:
    return _schema_json(schemas.in_force(ctx, actor, project, level))


@router.put(SCHEMA)
def put_schema(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    level: str,
    body: Annotated[Any, Body(description="A JSON Schema (Draft 2020-12), an object schema")],
) -> dict[str, Any]:
    saved = schemas.save(ctx, actor, project, level, body)
    return {
        **_schema_json(saved.schema),
        "changed": saved.changed,
        "conformance": _conformance(saved.conformance),
    }


@router.get(SCHEMA + "/versions")
def list_schema_versions(
    ctx: CtxDep, actor: ActorDep, project: str, level: str
) -> list[dict[str, Any]]:
    return [_schema_json(v) for v in schemas.versions(ctx, actor, project, level)]


@router.get(SCHEMA + "/versions/{version}")
def get_schema_version(
    ctx: CtxDep, actor: ActorDep, project: str, level: str, version: int
) -> dict[str, Any]:
    return _schema_json(schemas.version(ctx, actor, project, level, version))


@router.get(SCHEMA + "/check")
def check_schema_records(ctx: CtxDep, actor: ActorDep, project: str, level: str) -> dict[str, Any]:
    """The records of the level that do not pass the schema in force."""
    return _conformance(schemas.check_records(ctx, actor, project, level))


def _record(view: RecordView, response: Response) -> RecordView:
    response.headers["etag"] = f'"{view.version}"'
    return view


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match header names ("3", or W/"3"); None without one."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise Invalid("If-Match names a record version: the ETag of a GET.", field="if-match")
    return int(tag)


IfMatch = Annotated[str | None, Header(description="The ETag read: change only that version")]


def subject_target(project: str, subject: str) -> Target:
    return Target(project, subject=subject)


def session_target(project: str, session: str) -> Target:
    return Target(project, session=session)


def _add_record_routes(path: str, target: Callable[..., Target]) -> None:
    """GET, PUT, PATCH, DELETE and /history of the record at ``path``, whose labels
    ``target`` (a dependency on the path) turns into a :class:`Target`."""
    whose = Depends(target)

    @router.get(path, response_model=RecordView, name=f"get {path}")
    def get_record(
        ctx: CtxDep, actor: ActorDep, response: Response, who: Target = whose
    ) -> RecordView:
        return _record(records.get(ctx, actor, who), response)

    @router.put(path, response_model=RecordView, name=f"put {path}")
    def put_record(
        ctx: CtxDep,
        actor: ActorDep,
        body: Annotated[dict[str, Any], Body()],
        response: Response,
        who: Target = whose,
        if_match: IfMatch = None,
    ) -> RecordView:
        view, how = records.put(ctx, actor, who, body, expected=expected_version(if_match))
        if how == "created":
            response.status_code = status.HTTP_201_CREATED
        return _record(view, response)

    @router.patch(path, response_model=RecordView, name=f"patch {path}")
    def patch_record(
        ctx: CtxDep,
        actor: ActorDep,
        body: Annotated[dict[str, Any], Body(description="JSON Merge Patch: null removes")],
        response: Response,
        who: Target = whose,
        if_match: IfMatch = None,
    ) -> RecordView:
        view, _ = records.patch(ctx, actor, who, body, expected=expected_version(if_match))
        return _record(view, response)

    @router.delete(path, status_code=status.HTTP_204_NO_CONTENT, name=f"delete {path}")
    def delete_record(
        ctx: CtxDep, actor: ActorDep, who: Target = whose, if_match: IfMatch = None
    ) -> None:
        records.delete(ctx, actor, who, expected=expected_version(if_match))

    @router.get(path + "/history", response_model=list[records.VersionView], name=f"history {path}")
    def record_history(
        ctx: CtxDep, actor: ActorDep, who: Target = whose
    ) -> list[records.VersionView]:
        return records.history(ctx, actor, who)


_add_record_routes(SUBJECT, subject_target)
_add_record_routes(SESSION, session_target)


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``column=variable`` pairs (a variable's name holds no '=', a column's may)."""
    mapping = {}
    for pair in pairs:
        column, sep, variable = pair.rpartition("=")
        if not sep or not column.strip() or not variable.strip():
            raise Invalid(f"'{pair[:80]}' is not column=variable.", field="mapping")
        mapping[column.strip()] = variable.strip()
    return mapping


def import_body(report: ImportReport) -> dict[str, Any]:
    counts = {s: report.count(s) for s in ("created", "changed", "unchanged", "refused")}
    counts["not_written"] = report.count("not written")
    body: dict[str, Any] = {
        "written": report.written,
        "mode": report.mode,
        "delimiter": report.delimiter,
        "schema_version": report.schema_version,
        "ignored_columns": report.ignored_columns,
        "counts": counts,
        "rows": [
            {
                "row": r.row,
                "subject": r.subject,
                "status": r.status,
                "problems": [
                    {"column": p.column, "variable": p.variable, "reason": p.reason}
                    for p in r.problems
                ],
            }
            for r in report.rows
        ],
    }
    if not report.written:
        body["error"] = {
            "code": "invalid",
            "message": f"{counts['refused']} row(s) refused; nothing was written (partial=true "
            "takes the valid rows).",
            "field": "rows",
        }
    return body


@router.post(
    "/clinical/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A CSV (UTF-8), one row per subject.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
    responses={422: {"description": "Rows refused (the report), or the file refused"}},
)
async def import_records(
    request: Request,
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    subject_column: Annotated[str, Query(max_length=255)] = "subject",
    mapping: Annotated[list[str] | None, Query(description="column=variable")] = None,
    partial_: Annotated[bool, Query(alias="partial")] = False,
    ignore_unknown: bool = False,
    mode: Mode = Mode.MERGE,
) -> JSONResponse:
    body = bytearray()
    await stream_body(request, body.extend, csv_values.MAX_CSV_BYTES)
    options = Options(subject_column, parse_mapping(mapping or []), partial_, ignore_unknown, mode)
    run = partial(csv_import.import_csv, ctx, actor, project, bytes(body), options)
    report = await run_in_threadpool(run)
    code = status.HTTP_200_OK if report.written else status.HTTP_422_UNPROCESSABLE_CONTENT
    return JSONResponse(import_body(report), status_code=code)


@router.get(
    "/clinical/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export_records(
    ctx: CtxDep,
    actor: ActorDep,
    project: str,
    format: str = "csv",
    level: str = "subject",
    deidentified: bool = False,
) -> Response:
    out = export.export(ctx, actor, project, format=format, level=level, deidentified=deidentified)
    return Response(
        out.content,
        media_type=out.media_type,
        headers={"content-disposition": f'attachment; filename="{out.filename}"'},
    )
