"""The one JSON error shape: {"error": {"code", "message", "field"}}, plus "details" (a
list of {"name", "reason"}) when an error has several parts."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from scandepot import errors
from scandepot.access.throttle import TooManyAttempts

log = logging.getLogger("scandepot.api")

STATUS = {
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.Unsupported: 415,
    errors.Invalid: 422,
    errors.OutOfSpace: 507,
}

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
    507: "insufficient_storage",
}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    details: list[dict[str, str]] | None = None,
) -> JSONResponse:
    error: dict[str, object] = {"code": code, "message": message, "field": field}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ScandepotError)
    if isinstance(exc, TooManyAttempts):
        retry = {"retry-after": str(exc.retry_after_s)}
        return error_response(429, exc.code, exc.message, None, retry)
    status = next(s for cls, s in STATUS.items() if isinstance(exc, cls))
    headers = {"www-authenticate": 'Basic realm="scandepot"'} if status == 401 else None
    return error_response(status, exc.code, exc.message, exc.field, headers, exc.details)


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ())]
    if first.get("type") == "json_invalid":
        return error_response(400, "invalid_json", "The request body is not valid JSON.", "body")
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
    message = f"{field}: {first.get('msg', 'invalid value')}" if field else first.get("msg", "")
    return error_response(422, "invalid", message, field)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}))


def _integrity(request: Request, exc: Exception) -> JSONResponse:
    # A race lost between our own existence check and the insert: report it as such.
    log.info("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(409, "conflict", "The change conflicts with a record stored meanwhile.")


def _disconnected(request: Request, exc: Exception) -> JSONResponse:
    # The client went away while sending its body (an upload cancelled or cut off): what
    # it sent is discarded by the route; there is nobody left to answer.
    log.info("client went away during %s %s", request.method, request.url.path)
    return error_response(400, "bad_request", "The client closed the connection mid-request.")


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    ref = uuid.uuid4().hex[:12]
    log.exception("unhandled error %s on %s %s", ref, request.method, request.url.path)
    return error_response(500, "internal", f"Internal error (reference {ref}); see the server log.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.ScandepotError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(ClientDisconnect, _disconnected)
    app.add_exception_handler(Exception, _unexpected)
