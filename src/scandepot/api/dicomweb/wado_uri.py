"""WADO-URI (PS3.18 §9): ``GET /wado?requestType=WADO&studyUID=&seriesUID=&objectUID=``.

Site-wide by default (what the caller may read); ``project=`` limits it to one project,
with that project's rules. docs/dicomweb.md is the conformance statement.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from scandepot.access.permissions import Action
from scandepot.http.deps import ActorDep, CtxDep
from scandepot.http.responses import FileBodyResponse
from scandepot.query.scope import Scope, open_scope
from scandepot.retrieve import uri
from scandepot.retrieve.multipart import Whole

router = APIRouter(tags=["dicomweb"])


def uri_scope(request: Request, ctx: CtxDep, actor: ActorDep) -> Scope:
    with ctx.db.read() as db:
        return open_scope(db, actor, request.query_params.get("project"), Action.READ)


@router.get("/wado")
def wado_uri(
    request: Request, ctx: CtxDep, scope: Annotated[Scope, Depends(uri_scope)]
) -> Response:
    found = uri.retrieve(ctx, scope, request.query_params)
    if isinstance(found, Whole):
        return FileBodyResponse(found, media_type=found.media_type)
    return Response(found.data, media_type=found.media_type)
