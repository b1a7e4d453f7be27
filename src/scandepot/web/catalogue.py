"""The public catalogue's pages: the list of published datasets with a search, and a
version's page with its metadata and aggregates at its stable address
``/datasets/{ID}/v{n}`` (``/datasets/{ID}`` shows the latest published version).
docs/catalogue.md."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from scandepot.catalog.paging import PageRequest
from scandepot.datasets import access_requests, catalogue, feed
from scandepot.datasets.catalogue import PublicVersion, Search
from scandepot.web.deps import CtxDep, Visitor, VisitorDep
from scandepot.web.render import page

router = APIRouter()

Term = Annotated[str | None, Query(max_length=catalogue.MAX_TERM)]
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=200)]
SORTS = ("-published", "published", "name", "-name")


@router.get("/datasets")
def catalogue_page(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    q: Term = None,
    modality: Term = None,
    body_part: Term = None,
    keyword: Term = None,
    sort: Annotated[str | None, Query(max_length=16)] = None,
    offset: Offset = 0,
    limit: Limit = 25,
) -> Response:
    find = Search(q=q, keyword=keyword, modality=modality, body_part=body_part)
    found = catalogue.search(
        ctx, visitor.actor, find, PageRequest(limit=limit, offset=offset, sort=sort)
    )
    params = {
        "q": q,
        "modality": modality,
        "body_part": body_part,
        "keyword": keyword,
        "sort": sort,
        "limit": limit,
    }
    return page(request, visitor, "catalogue.html", title="Datasets", found=found, params=params)


@router.get("/datasets/{dataset}")
def latest_page(request: Request, ctx: CtxDep, visitor: VisitorDep, dataset: str) -> Response:
    return _version_page(request, ctx, visitor, catalogue.latest(ctx, visitor.actor, dataset))


@router.get("/datasets/{dataset}/v{number:int}")
def version_page(
    request: Request, ctx: CtxDep, visitor: VisitorDep, dataset: str, number: int
) -> Response:
    view = catalogue.version(ctx, visitor.actor, dataset, number)
    return _version_page(request, ctx, visitor, view)


def _version_page(request: Request, ctx: CtxDep, visitor: Visitor, view: PublicVersion) -> Response:
    # With every "<" escaped (JSON reads \u003c as "<"), nothing in the metadata can end
    # the script element early or open a comment in it.
    described = json.dumps(feed.schema_org(ctx, view), ensure_ascii=False).replace("<", "\\u003c")
    standing = None
    if visitor.signed_in:  # the visitor's request, download and owner's link
        standing = access_requests.standing(ctx, visitor.actor, view.stable_id, view.number)
    return page(
        request,
        visitor,
        "dataset_version.html",
        standing=standing,
        title=str(view.meta.get("title") or view.name),
        v=view,
        canonical=feed.page_url(ctx, view.stable_id, view.number),
        json_ld=Markup(described),  # noqa: S704 - JSON made here, every "<" escaped
    )
