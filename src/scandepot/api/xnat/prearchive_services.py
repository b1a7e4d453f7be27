"""XNAT's prearchive services: ``POST /data/services/archive`` and
``/data/services/prearchive/move|rebuild|delete``, each naming staged sessions by ``src``
(``/prearchive/projects/{project}/{timestamp}/{session}``, with or without ``/data``; one
or more, repeated or comma-separated), in the query or a form body, as XNAT reads them.

They run at once (``async`` is accepted and has no effect). Every ``src`` is resolved and
checked before any is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.api.xnat import staged
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.prearchive import ENTRY
from scandepot.api.xnat.results import render
from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.http.deps import get_ctx
from scandepot.ingest.multipart import media_type
from scandepot.prearchive import names, operations
from scandepot.prearchive.operations import Relabel

router = APIRouter()

FORM = "application/x-www-form-urlencoded"
OVERWRITES = ("none", "append", "delete")
ACTIONS = ("build", "commit")


@dataclass(frozen=True, slots=True)
class Params:
    values: dict[str, list[str]]

    def get(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[-1] if found else None

    def sources(self) -> list[names.Name]:
        given = [s.strip() for v in self.values.get("src", []) for s in v.split(",")]
        if not any(given):
            raise Invalid("Name the prearchive session in src.", field="src")
        return [names.parse(s) for s in given if s]


async def _params(request: Request) -> Params:
    values: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        values.setdefault(key, []).append(value)
    if media_type(request.headers.get("content-type"))[0] == FORM:
        for key, item in (await request.form()).multi_items():
            if isinstance(item, str):
                values.setdefault(key, []).append(item)
    return Params(values)


ParamsDep = Annotated[Params, Depends(_params)]
CtxDep = Annotated[Context, Depends(get_ctx)]


def _ids(ctx: Context, actor: Actor, params: Params, action: Action) -> list[int]:
    return [names.find(ctx, actor, n, action) for n in params.sources()]


def _answer(views: list[operations.StagedView], params: Params) -> Response:
    """The sessions' rows; JSON unless another format is asked (XNAT's first choice, and
    xnatpy takes an HTML answer for an error page)."""
    return render(staged.table(views), params.get("format") or "json")


def _table(ctx: Context, actor: Actor, ids: list[int], params: Params) -> Response:
    return _answer([operations.get(ctx, actor, i) for i in ids], params)


@router.post("/services/prearchive/move")
def move(ctx: CtxDep, actor: XnatActorDep, params: ParamsDep) -> Response:
    """Into the project ``newProject``; answers the sessions' rows, with their new URLs."""
    ids = _ids(ctx, actor, params, Action.PREARCHIVE)
    target = params.get("newProject")
    if not target:
        raise Invalid("Name the project to move to in newProject.", field="newProject")
    for staged_id in ids:
        operations.relabel(ctx, actor, staged_id, Relabel(project=target))
    return _table(ctx, actor, ids, params)


@router.post("/services/prearchive/rebuild")
def rebuild(ctx: CtxDep, actor: XnatActorDep, params: ParamsDep) -> Response:
    ids = _ids(ctx, actor, params, Action.PREARCHIVE)
    for staged_id in ids:
        operations.rebuild(ctx, actor, staged_id)
    return _table(ctx, actor, ids, params)


@router.post("/services/prearchive/delete")
def delete(ctx: CtxDep, actor: XnatActorDep, params: ParamsDep) -> Response:
    """Answers the sessions' rows as they were before they were deleted."""
    ids = _ids(ctx, actor, params, Action.ARCHIVE)
    rows = [operations.get(ctx, actor, i) for i in ids]
    for staged_id in ids:
        operations.delete(ctx, actor, staged_id)
    return _answer(rows, params)


def _labels(params: Params) -> Relabel | None:
    """The labels the archive is asked to give: ``project``, ``subject``, ``session``, or
    ``dest=/archive/projects/{p}[/subjects/{s}[/experiments/{e}]]``."""
    project, subject, session = (params.get(k) for k in ("project", "subject", "session"))
    dest = params.get("dest")
    if dest:
        parts = dest.strip("/").split("/")
        if parts[:1] == ["data"]:
            parts = parts[1:]
        keys = ("archive", "projects", "subjects", "experiments")
        if len(parts) not in (1, 3, 5, 7) or any(
            parts[i] != keys[i // 2] for i in range(0, len(parts), 2)
        ):
            raise Invalid(
                f"Unknown destination '{dest[:200]}': give "
                "/archive/projects/{project}[/subjects/{subject}[/experiments/{session}]].",
                field="dest",
            )
        named = parts[1::2] + [None, None, None]
        project, subject, session = project or named[0], subject or named[1], session or named[2]
    if not (project or subject or session):
        return None
    return Relabel(project=project, subject=subject, session=session)


def _archive_one(ctx: Context, actor: Actor, staged_id: int, params: Params) -> str:
    overwrite = (params.get("overwrite") or "none").lower()
    if overwrite not in OVERWRITES:
        raise Invalid(
            f"overwrite must be none, append or delete (got '{overwrite[:50]}').",
            field="overwrite",
        )
    labels = _labels(params)
    replace, merge = overwrite == "delete", overwrite != "none"
    if labels is None:
        done = operations.archive(ctx, actor, staged_id, overwrite=replace, merge=merge)
    else:
        done = operations.archive_relabelled(
            ctx, actor, staged_id, labels, overwrite=replace, merge=merge
        )
    return staged.archived_uri(done.project, done.subject, done.session)


@router.post("/services/archive", response_class=PlainTextResponse)
async def archive(request: Request, actor: XnatActorDep) -> PlainTextResponse:
    """Archives each ``src``; answers the archived sessions' URIs, one a line."""
    ctx, params = get_ctx(request), await _params(request)

    def run() -> list[str]:
        ids = _ids(ctx, actor, params, Action.PREARCHIVE)
        return [_archive_one(ctx, actor, i, params) for i in ids]

    uris = await run_in_threadpool(run)
    return PlainTextResponse("".join(f"{u}\r\n" for u in uris))


@router.post(ENTRY, response_class=PlainTextResponse)
async def act_on_entry(
    request: Request, actor: XnatActorDep, project: str, timestamp: str, session: str
) -> PlainTextResponse:
    """XNAT's actions on one entry: ``action=build`` (pyxnat's ``reset``) rebuilds it and
    answers its URI; ``action=commit`` archives it as ``/data/services/archive`` does."""
    ctx, params = get_ctx(request), await _params(request)
    name = names.Name(project, timestamp, session)
    action = params.get("action")
    if action not in ACTIONS:
        raise Invalid(
            f"Unknown action '{(action or '')[:50]}': give action=build or action=commit.",
            field="action",
        )

    def run() -> str:
        staged_id = names.find(ctx, actor, name)
        if action == "build":
            operations.rebuild(ctx, actor, staged_id)
            return staged.staged_uri(ctx, actor, staged_id)
        return _archive_one(ctx, actor, staged_id, params)

    return PlainTextResponse(await run_in_threadpool(run) + "\r\n")
