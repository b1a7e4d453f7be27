"""Request dependencies of the API's routers: those shared with the pages
(:mod:`scandepot.http.deps`) and paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from scandepot.catalog.paging import MAX_LIMIT, MAX_OFFSET, PageRequest
from scandepot.http.deps import ActorDep, CtxDep

__all__ = ["ActorDep", "CtxDep", "PageDep"]


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
    sort: Annotated[
        str | None,
        Query(max_length=200, description="Fields to sort by, comma-separated; '-' descends."),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            max_length=4096,
            description="The next of the page before: the page after it, read through the "
            "sort's index however deep (offset reads every row it skips).",
        ),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, offset=offset, sort=sort, after=after)


PageDep = Annotated[PageRequest, Depends(page_request)]
