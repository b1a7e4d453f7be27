"""Errors on pages are shown in words, on a page; the API keeps its JSON shape.

The handlers the API installed stay in charge of every request that is not for a page
(``/api/``, the health probes, static files). An anonymous visitor refused a page is sent
to the sign-in page, and comes back after signing in.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from scandepot import errors
from scandepot.access.actors import ANONYMOUS
from scandepot.access.throttle import TooManyAttempts
from scandepot.api.errors import STATUS
from scandepot.web.deps import Visitor, get_visitor
from scandepot.web.render import page, redirect

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]
NOT_PAGES = ("/api/", "/healthz", "/readyz", "/static/", "/docs")

TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflict",
    500: "Internal error",
    413: "Too large",
    422: "Invalid input",
    429: "Too many attempts",
    507: "Out of storage space",
}


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES)


def _visitor(request: Request) -> Visitor:
    try:
        return get_visitor(request)
    except errors.ScandepotError:
        return Visitor(ANONYMOUS)


def _status_and_message(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, TooManyAttempts):
        return 429, f"{exc.message} Try again in {exc.retry_after_s} seconds."
    if isinstance(exc, errors.ScandepotError):
        status = next(s for cls, s in STATUS.items() if isinstance(exc, cls))
        return status, exc.message
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        return 422, f"{where}: {first.get('msg', 'invalid value')}" if where else "Invalid input."
    if isinstance(exc, HTTPException):
        words = {404: "There is no page here.", 405: "This page does not take that request."}
        return exc.status_code, words.get(exc.status_code, str(exc.detail))
    return 500, "Internal error."


def error_page(request: Request, exc: Exception) -> Response:
    status, message = _status_and_message(exc)
    visitor = _visitor(request)
    if status == 401 and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/login?next={quote(target, safe='')}")
    return page(
        request,
        visitor,
        "error.html",
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
        status_code=status,
    )


def _as_page(request: Request, answer: Response) -> Response:
    """The API's answer to an unexpected error (logged there, with a reference), as a page."""
    try:
        message = str(json.loads(bytes(answer.body))["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = "Internal error."
    status = answer.status_code
    return page(
        request,
        _visitor(request),
        "error.html",
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
        status_code=status,
    )


def install(app: FastAPI) -> None:
    """Put page errors in front of the API's handlers (which must be installed first)."""
    for cls in (errors.ScandepotError, RequestValidationError, HTTPException):
        api_handler: Handler = app.exception_handlers[cls]

        def handler(request: Request, exc: Exception, _api: Handler = api_handler) -> Any:
            if is_page(request):
                return error_page(request, exc)
            return _api(request, exc)

        app.add_exception_handler(cls, handler)
    # A race lost (409) and a bug (500): the API's handler logs and words them.
    for kind in (IntegrityError, Exception):
        plain: Handler = app.exception_handlers[kind]

        def wrapped(request: Request, exc: Exception, _api: Handler = plain) -> Any:
            answer = _api(request, exc)
            if is_page(request) and isinstance(answer, Response):
                return _as_page(request, answer)
            return answer

        app.add_exception_handler(kind, wrapped)
