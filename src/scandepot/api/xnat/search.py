"""``POST /data/search``: XNAT's search, an ``xdat:search`` document in the body, answered
as a ResultSet (``format=json|xml|csv|html``). The search itself is
:mod:`scandepot.search`'s; ``/data/search/elements/{type}`` lists the fields it takes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from scandepot.api.xnat import search_xml
from scandepot.api.xnat.deps import XnatActorDep
from scandepot.api.xnat.results import FormatQuery, Table, check_format, render
from scandepot.http.deps import CtxDep
from scandepot.search import engine

router = APIRouter()


@router.post("/search")
async def search(
    request: Request, ctx: CtxDep, actor: XnatActorDep, fmt: FormatQuery = None
) -> Response:
    check_format(fmt)
    body = await request.body()  # at most the site's max_request_bytes
    parsed = search_xml.parse(body)
    result = await run_in_threadpool(engine.run, ctx, actor, parsed)
    return render(Table(result.headers, result.rows, result.title), fmt)
