"""Sign-in as XNAT clients do it: ``/data/JSESSION``, ``/data/services/auth``, ``/data/auth``.

A session made here is a sign-in like the browser's (it ends after ``session_hours``, and
with the account), sent back in the ``JSESSIONID`` cookie and as the text of the answer.
A caller without credentials gets a value that names no sign-in, as XNAT gives a guest
session: its requests stay anonymous.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from scandepot.access import logins, users
from scandepot.access.actors import Actor
from scandepot.api.xnat.deps import (
    JSESSION,
    XnatActorDep,
    clear_jsession,
    jsession_actor,
    set_jsession,
)
from scandepot.errors import Invalid, Unauthorized
from scandepot.http.deps import client_address, credentials_actor, get_ctx

router = APIRouter()


def _open(request: Request, actor: Actor) -> Response:
    signed = logins.open_session(
        get_ctx(request), actor, user_agent=request.headers.get("user-agent")
    )
    response = PlainTextResponse(signed.secret)
    set_jsession(response, request, signed)
    return response


@router.get("/JSESSION", response_class=PlainTextResponse)
@router.post("/JSESSION", response_class=PlainTextResponse)
def jsession(request: Request) -> Response:
    """A session for the caller's credentials; the caller's own when it sends its cookie."""
    actor = credentials_actor(request)
    if actor is not None:
        return _open(request, actor)
    if jsession_actor(request) is not None:
        return PlainTextResponse(request.cookies[JSESSION])
    return PlainTextResponse(secrets.token_hex(16).upper())


@router.delete("/JSESSION", response_class=PlainTextResponse)
def end_jsession(request: Request, actor: XnatActorDep) -> Response:
    if actor.via == "session":
        logins.close_session(get_ctx(request), actor)
    response = PlainTextResponse("")
    clear_jsession(response)
    return response


@router.put("/services/auth", response_class=PlainTextResponse)
@router.post("/services/auth", response_class=PlainTextResponse)
async def services_auth(request: Request) -> Response:
    """``username`` and ``password`` as form fields (or query parameters): a session."""
    form = await request.form()
    login = form.get("username") or request.query_params.get("username")
    password = form.get("password") or request.query_params.get("password")
    if not isinstance(login, str) or not isinstance(password, str) or not login:
        raise Invalid("Give username and password.", field="username")
    ctx, address = get_ctx(request), client_address(request)
    actor = await run_in_threadpool(
        users.sign_in, ctx, login, password, address=address, method="basic"
    )
    return await run_in_threadpool(_open, request, actor)


@router.get("/auth", response_class=PlainTextResponse)
def who(actor: XnatActorDep) -> str:
    if actor.is_anonymous:
        raise Unauthorized("Not signed in.")
    return f"User '{actor.login}' is logged in"
