"""Request dependencies shared by every router: the context, the actor, paging."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import Depends, Query, Request, Response

from scandepot.access import logins, tokens, users
from scandepot.access.actors import ANONYMOUS, Actor
from scandepot.catalog.paging import MAX_LIMIT, MAX_OFFSET, PageRequest
from scandepot.context import Context
from scandepot.errors import Unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def get_actor(request: Request) -> Actor:
    """Who is asking: a Bearer token, HTTP Basic, or the session cookie, in that order.

    No credentials at all: anonymous. Credentials that fail: 401, never anonymous.
    """
    ctx = get_ctx(request)
    address = client_address(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            actor = tokens.authenticate(ctx, value, address=address)
            if actor is None:
                raise Unauthorized("Invalid credentials.")
            return actor
        if scheme.lower() == "basic" and value:
            login, password = _basic(value)
            return users.sign_in(ctx, login, password, address=address, method="basic")
        raise Unauthorized("Unsupported or malformed Authorization header.")
    secret = request.cookies.get(logins.COOKIE)
    if secret:
        resolved = logins.resolve(ctx, secret, address=address)
        if resolved is None:
            raise Unauthorized("Your sign-in has ended; sign in again.")
        if request.method not in SAFE_METHODS:
            logins.check_csrf(resolved.csrf_token, request.headers.get(CSRF_HEADER))
        return resolved.actor
    return ANONYMOUS.at(address)


def set_session_cookie(response: Response, request: Request, signed: logins.SignedIn) -> None:
    """Give the browser its sign-in: the same cookie for the API and the web pages."""
    response.set_cookie(
        logins.COOKIE,
        signed.secret,
        expires=signed.expires_at,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(logins.COOKIE, path="/")


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        raise Unauthorized("Malformed Basic credentials.") from None
    login, sep, password = decoded.partition(":")
    if not sep or not login:
        raise Unauthorized("Malformed Basic credentials.")
    return login, password


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
    sort: Annotated[
        str | None,
        Query(max_length=200, description="Fields to sort by, comma-separated; '-' descends."),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, offset=offset, sort=sort)


CtxDep = Annotated[Context, Depends(get_ctx)]
ActorDep = Annotated[Actor, Depends(get_actor)]
PageDep = Annotated[PageRequest, Depends(page_request)]
