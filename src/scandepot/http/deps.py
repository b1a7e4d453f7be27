"""Request dependencies the API and the pages share: the context, the client's address,
the actor (Bearer token, HTTP Basic or the session cookie), its cookie, and CSRF."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from fastapi import Depends, Request, Response

from scandepot.access import logins, tokens, users
from scandepot.access.actors import ANONYMOUS, Actor
from scandepot.context import Context
from scandepot.errors import Unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def signed_in(request: Request) -> logins.Resolved | None:
    """The sign-in that the session cookie names, when it has one that is still valid."""
    secret = request.cookies.get(logins.COOKIE)
    if not secret:
        return None
    return logins.resolve(get_ctx(request), secret, address=client_address(request))


def check_csrf(request: Request, expected: str, given: str | None = None) -> None:
    """A state-changing request by cookie carries its session's CSRF token: ``given``
    (a form's field), or else the ``X-CSRF-Token`` header."""
    logins.check_csrf(expected, given if given is not None else request.headers.get(CSRF_HEADER))


def credentials_actor(request: Request) -> Actor | None:
    """The actor an ``Authorization`` header proves (a Bearer token, or HTTP Basic with a
    password or an API token), or None when the request has no such header. Credentials
    that fail: 401, never anonymous."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    ctx = get_ctx(request)
    address = client_address(request)
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        actor = tokens.authenticate(ctx, value, address=address)
        if actor is None:
            raise Unauthorized("Invalid credentials.")
        return actor
    if scheme.lower() == "basic" and value:
        login, password = _basic(value)
        if password.startswith(tokens.PREFIX):
            # An API token as the password (what XNAT scripts that take a user and a
            # password can be given); a password that merely looks like one still works.
            actor = tokens.authenticate(ctx, password, address=address)
            if actor is not None and actor.login == login:
                return actor
        return users.sign_in(ctx, login, password, address=address, method="basic")
    raise Unauthorized("Unsupported or malformed Authorization header.")


def get_actor(request: Request) -> Actor:
    """Who is asking: a Bearer token, HTTP Basic, or the session cookie, in that order.

    No credentials at all: anonymous. Credentials that fail: 401, never anonymous.
    """
    actor = credentials_actor(request)
    if actor is not None:
        return actor
    if not request.cookies.get(logins.COOKIE):
        return ANONYMOUS.at(client_address(request))
    resolved = signed_in(request)
    if resolved is None:
        raise Unauthorized("Your sign-in has ended; sign in again.")
    if request.method not in SAFE_METHODS:
        check_csrf(request, resolved.csrf_token)
    return resolved.actor


def set_session_cookie(
    response: Response,
    request: Request,
    signed: logins.SignedIn,
    *,
    name: str = logins.COOKIE,
    samesite: Literal["lax", "strict"] = "lax",
) -> None:
    """Give the client its sign-in: by default the browser's, the same cookie for the API
    and the web pages; HttpOnly, and Secure over HTTPS."""
    response.set_cookie(
        name,
        signed.secret,
        expires=signed.expires_at,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite=samesite,
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


CtxDep = Annotated[Context, Depends(get_ctx)]
ActorDep = Annotated[Actor, Depends(get_actor)]
