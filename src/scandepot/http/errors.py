"""Errors to HTTP, in one place: every exception a request can end in becomes a
:class:`Problem` (status, code, message, field, headers, details), which the API sends in
its one JSON shape, ``{"error": {"code", "message", "field"}}`` plus ``"details"`` (a list
of ``{"name", "reason"}``) when an error has several parts, and the pages show in words.

A domain error carries its own status (:attr:`scandepot.errors.ScandepotError.status`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from scandepot import errors
from scandepot.access.throttle import TooManyAttempts

log = logging.getLogger("scandepot.http")
RETRY_UNAVAILABLE_S = 5  # what a 503 (the catalog database unreachable) asks clients to wait

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid",
    431: "headers_too_large",
    503: "unavailable",
    507: "insufficient_storage",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """What went wrong, as an HTTP answer tells it."""

    status: int
    code: str
    message: str
    field: str | None = None
    headers: dict[str, str] | None = None
    details: list[dict[str, str]] | None = None


def error_response(problem: Problem) -> JSONResponse:
    error: dict[str, object] = {
        "code": problem.code,
        "message": problem.message,
        "field": problem.field,
    }
    if problem.details:
        error["details"] = problem.details
    return JSONResponse({"error": error}, status_code=problem.status, headers=problem.headers)


def _domain(exc: errors.ScandepotError) -> Problem:
    headers = None
    if isinstance(exc, TooManyAttempts):
        headers = {"retry-after": str(exc.retry_after_s)}
    elif exc.status == 401:
        headers = {"www-authenticate": 'Basic realm="scandepot"'}
    elif isinstance(exc, errors.Unavailable):
        headers = {"retry-after": str(RETRY_UNAVAILABLE_S)}
    return Problem(exc.status, exc.code, exc.message, exc.field, headers, exc.details)


def _validation(exc: RequestValidationError) -> Problem:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ())]
    if first.get("type") == "json_invalid":
        return Problem(400, "invalid_json", "The request body is not valid JSON.", "body")
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
    message = f"{field}: {first.get('msg', 'invalid value')}" if field else first.get("msg", "")
    return Problem(422, "invalid", message, field)


def _http(exc: HTTPException) -> Problem:
    code = _HTTP_CODES.get(exc.status_code, "error")
    return Problem(exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}))


def problem(request: Request, exc: Exception) -> Problem:
    """The answer to ``exc``; what is not the client's doing is logged here."""
    if isinstance(exc, errors.ScandepotError):
        return _domain(exc)
    if isinstance(exc, RequestValidationError):
        return _validation(exc)
    if isinstance(exc, HTTPException):
        return _http(exc)
    where = f"{request.method} {request.url.path}"
    if isinstance(exc, IntegrityError):
        # A race lost between our own existence check and the insert: report it as such.
        log.info("integrity error on %s: %s", where, exc)
        return Problem(409, "conflict", "The change conflicts with a record stored meanwhile.")
    if isinstance(exc, ClientDisconnect):
        # The client went away while sending its body (an upload cancelled or cut off):
        # what it sent is discarded by the route; there is nobody left to answer.
        log.info("client went away during %s", where)
        return Problem(400, "bad_request", "The client closed the connection mid-request.")
    ref = uuid.uuid4().hex[:12]
    log.exception("unhandled error %s on %s", ref, where, exc_info=exc)
    return Problem(500, "internal", f"Internal error (reference {ref}); see the server log.")


# A page for a request that asked for one, or None: the answer is JSON.
PageRenderer = Callable[[Request, Exception, Problem], Response | None]
HANDLED = (
    errors.ScandepotError,
    RequestValidationError,
    HTTPException,
    IntegrityError,
    ClientDisconnect,
    Exception,
)


def install(app: FastAPI, *, pages: Sequence[PageRenderer] = ()) -> None:
    """Answer every error through :func:`problem`: in the shape of the first of ``pages``
    that gives one (an interface with an error format of its own: the web pages, the
    XNAT-compatible API), otherwise in the JSON shape."""

    def handler(request: Request, exc: Exception) -> Response:
        found = problem(request, exc)
        for render in pages:
            page = render(request, exc, found)
            if page is not None:
                return page
        return error_response(found)

    for kind in HANDLED:
        app.add_exception_handler(kind, handler)
