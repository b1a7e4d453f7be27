"""``POST /data/services/import``: XNAT's import service, with its ``DICOM-zip`` handler
(a zip, tar or tar.gz of DICOM), through the one upload path (ingest/upload.py).

XNAT's query options become the upload's :class:`~scandepot.ingest.modes.Options`:
``dest`` (``/prearchive``, ``/prearchive/projects/{p}``, ``/archive``,
``/archive/projects/{p}[/subjects/{s}[/experiments/{e}]]``), ``PROJECT_ID`` (or
``project``), ``SUBJECT_ID`` (``subject``), ``EXPT_LABEL`` (``session``), ``overwrite``
(``none``, ``append``, ``delete``), ``Ignore-Unparsable`` and ``Direct-Archive``. The answer
is XNAT's: the URI of each session the upload went to, one a line, as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from scandepot.access.actors import Actor
from scandepot.api.xnat import uploads
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.staged import archived_uri, staged_uri
from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.http.deps import get_ctx
from scandepot.ingest import held, upload
from scandepot.ingest.modes import Destination, Options, Overwrite

router = APIRouter()

HANDLER = "DICOM-zip"
# XNAT's other import handlers: named in the answer as handlers this server does not run.
XNAT_HANDLERS = ("SI", "gradual-DICOM", "XAR", "inbox")
TRUE = ("true", "1", "yes")

_DEST = re.compile(
    r"(?:/(?:data|REST))?/(?P<where>prearchive|archive)"
    r"(?:/projects/(?P<project>[^/]+)(?:/subjects/(?P<subject>[^/]+)"
    r"(?:/experiments/(?P<session>[^/]+))?)?)?/?"
)


@dataclass(frozen=True, slots=True)
class _Request:
    project: str
    options: Options


def _first(query: QueryParams, *names: str) -> str | None:
    for name in names:
        value = query.get(name)
        if value:
            return value
    return None


def _check_handler(query: QueryParams) -> None:
    handler = query.get("import-handler")
    if handler is None or handler.lower() == HANDLER.lower():
        return
    if handler in XNAT_HANDLERS:
        why = f"Import handler '{handler}' is not served here"
    else:
        why = f"Unknown import handler '{handler[:100]}'"
    raise Invalid(
        f"{why}: this server imports with '{HANDLER}' (a zip, tar or tar.gz of DICOM files).",
        field="import-handler",
    )


def _destination(query: QueryParams) -> tuple[Destination | None, dict[str, str | None]]:
    dest = query.get("dest")
    if dest is None:
        archive = (query.get("Direct-Archive") or "").lower() in TRUE
        return (Destination.ARCHIVE if archive else None), {}
    found = _DEST.fullmatch(dest)
    if found is None or (found["where"] == "prearchive" and found["subject"]):
        raise Invalid(
            f"Unknown destination '{dest[:200]}': give /prearchive/projects/{{project}} or "
            "/archive/projects/{project}[/subjects/{subject}[/experiments/{session}]].",
            field="dest",
        )
    where = Destination.ARCHIVE if found["where"] == "archive" else Destination.PREARCHIVE
    return where, {k: found[k] for k in ("project", "subject", "session")}


def _one(name: str, *given: str | None) -> str | None:
    """The value the request gives for ``name``, in one or more places, if they agree."""
    values = {v for v in given if v}
    if len(values) > 1:
        raise Invalid(f"Two {name}s given: {', '.join(sorted(values))}.", field=name)
    return values.pop() if values else None


def parse(query: QueryParams) -> _Request:
    """XNAT's options as the upload's; 400 naming what is wrong."""
    _check_handler(query)
    destination, named = _destination(query)
    project = _one("project", named.get("project"), _first(query, "PROJECT_ID", "project"))
    if project is None:
        raise Invalid(
            "No project given: send dest=/prearchive/projects/{project} or PROJECT_ID.",
            field="PROJECT_ID",
        )
    overwrite = (query.get("overwrite") or Overwrite.NONE.value).lower()
    if overwrite not in {o.value for o in Overwrite}:
        raise Invalid(
            f"overwrite must be none, append or delete (got '{overwrite[:50]}').",
            field="overwrite",
        )
    options = Options(
        subject=_one("subject", named.get("subject"), _first(query, "SUBJECT_ID", "subject")),
        session=_one("session", named.get("session"), _first(query, "EXPT_LABEL", "session")),
        destination=destination,
        overwrite=Overwrite(overwrite),
        ignore_unparsable=(_first(query, "Ignore-Unparsable", "ignore_unparsable") or "").lower()
        in TRUE,
    )
    return _Request(project, options)


async def _run(ctx: Context, actor: Actor, request: Request, asked: _Request) -> upload.Result:
    where = await run_in_threadpool(upload.prepare, ctx, actor, asked.project, asked.options)
    body = await run_in_threadpool(ctx.store.stage, hashed=False)
    try:
        await uploads.receive(request, body.write, ctx.settings.max_upload_bytes)
        body.end()
        return await run_in_threadpool(
            lambda: upload.run(
                ctx, actor, asked.project, asked.options, body.tmp_path, destination=where
            )
        )
    finally:
        await run_in_threadpool(body.discard)


def _uris(ctx: Context, actor: Actor, result: upload.Result) -> list[str]:
    found: list[str] = []
    for entry in result.sessions:
        done = entry.archived
        if done is not None:
            found.append(archived_uri(done.project, done.subject, done.session))
        else:
            found.append(staged_uri(ctx, actor, entry.staged_id))
    for place in result.held:
        if place.kind == held.ARCHIVE:
            found.append(archived_uri(result.project, place.subject or "", place.session or ""))
        else:
            found.append(staged_uri(ctx, actor, int(place.ref)))
    return list(dict.fromkeys(found))


@router.post(
    "/services/import",
    response_class=PlainTextResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A zip, tar or tar.gz of DICOM files: the body itself, or the "
            "file field of a multipart/form-data body.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def import_service(request: Request, actor: XnatActorDep) -> PlainTextResponse:
    """The session URIs the upload went to, one a line (XNAT's answer)."""
    ctx = get_ctx(request)
    asked = parse(request.query_params)
    result = await _run(ctx, actor, request, asked)
    uris = await run_in_threadpool(_uris, ctx, actor, result)
    text = uris[0] if len(uris) == 1 else "".join(f"{u}\r\n" for u in uris)
    return PlainTextResponse(text)
