"""Who is asking, as XNAT clients prove it.

On every call: HTTP Basic (a password, or an API token as the password) or a Bearer token,
as under ``/api/v1``. After ``/data/JSESSION`` or ``/data/services/auth``: the
``JSESSIONID`` cookie those routes made. XNAT clients send no CSRF header, so this cookie
is the only cookie accepted here, never the browser's sign-in cookie: a page on another
site cannot make a signed-in browser act under ``/data``. ``JSESSIONID`` itself is
``SameSite=Strict`` and ``HttpOnly``, so a browser that holds one does not send it from
another site either.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from scandepot.access import logins
from scandepot.access.actors import ANONYMOUS, Actor
from scandepot.http.deps import (
    client_address,
    credentials_actor,
    get_ctx,
    set_session_cookie,
)

JSESSION = "JSESSIONID"


def jsession_actor(request: Request) -> Actor | None:
    """The actor behind the request's ``JSESSIONID`` cookie; None without one, or when it
    names no live sign-in: as in XNAT, a session that has ended leaves a guest."""
    secret = request.cookies.get(JSESSION)
    if not secret:
        return None
    resolved = logins.resolve(get_ctx(request), secret, address=client_address(request))
    return resolved.actor if resolved is not None else None


def get_actor(request: Request) -> Actor:
    """Credentials in the request first, then the ``JSESSIONID`` cookie, else anonymous."""
    actor = credentials_actor(request)
    if actor is None:
        actor = jsession_actor(request)
    return actor if actor is not None else ANONYMOUS.at(client_address(request))


def set_jsession(response: Response, request: Request, signed: logins.SignedIn) -> None:
    set_session_cookie(response, request, signed, name=JSESSION, samesite="strict")


def clear_jsession(response: Response) -> None:
    response.delete_cookie(JSESSION, path="/")


XnatActorDep = Annotated[Actor, Depends(get_actor)]
