"""Request dependencies shared by every router: the context, the actor, paging."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import Depends, Query, Request

from scandepot.access import users
from scandepot.access.actors import ANONYMOUS, Actor
from scandepot.archive.listing import MAX_LIMIT, PageRequest
from scandepot.context import Context
from scandepot.errors import Unauthorized


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def get_actor(request: Request) -> Actor:
    """Who is asking. No credentials: anonymous. Bad credentials: 401, never anonymous."""
    header = request.headers.get("authorization")
    if header is None:
        return ANONYMOUS
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Unauthorized("Unsupported or malformed Authorization header.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        raise Unauthorized("Malformed Basic credentials.") from None
    login, sep, password = decoded.partition(":")
    if not sep or not login:
        raise Unauthorized("Malformed Basic credentials.")
    actor = users.authenticate_password(get_ctx(request), login, password)
    if actor is None:
        raise Unauthorized("Invalid credentials.")
    return actor


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
    sort: Annotated[
        str | None,
        Query(max_length=200, description="Fields to sort by, comma-separated; '-' descends."),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, offset=offset, sort=sort)


CtxDep = Annotated[Context, Depends(get_ctx)]
ActorDep = Annotated[Actor, Depends(get_actor)]
PageDep = Annotated[PageRequest, Depends(page_request)]
