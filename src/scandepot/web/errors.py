"""Errors on pages are shown in words, on a page; other requests keep the API's JSON.

:mod:`scandepot.http.errors` maps every error once; :func:`render` words the result for
a request that asked for a page (not ``/api/``, DICOMweb, the health probes, static files). An
anonymous visitor refused a page is sent to the sign-in page, and comes back after
signing in.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from scandepot import errors
from scandepot.access.actors import ANONYMOUS
from scandepot.access.throttle import TooManyAttempts
from scandepot.http.errors import Problem
from scandepot.web.deps import Visitor, get_visitor
from scandepot.web.render import page, redirect

NOT_PAGES = (
    "/api/",
    "/dicomweb",
    "/wado",
    "/data/",
    "/REST/",
    "/xapi/",
    "/datalad/",  # DataLad and git-annex: a 401 with its Basic challenge, never a sign-in page
    "/healthz",
    "/readyz",
    "/static/",
    "/docs",
)

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
    503: "Not available",
    507: "Out of storage space",
}


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES)


def _visitor(request: Request) -> Visitor:
    try:
        return get_visitor(request)
    except errors.ScandepotError:
        return Visitor(ANONYMOUS)


def _message(exc: Exception, problem: Problem) -> tuple[int, str]:
    """The status and the words of the page; the problem's, unless a page says it better."""
    if isinstance(exc, TooManyAttempts):
        return problem.status, f"{exc.message} Try again in {exc.retry_after_s} seconds."
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        return 422, f"{where}: {first.get('msg', 'invalid value')}" if where else "Invalid input."
    if isinstance(exc, HTTPException):
        words = {404: "There is no page here.", 405: "This page does not take that request."}
        return problem.status, words.get(problem.status, problem.message)
    return problem.status, problem.message


def render(request: Request, exc: Exception, problem: Problem) -> Response | None:
    """The error page for ``exc``, or None when the request was not for a page."""
    if not is_page(request):
        return None
    status, message = _message(exc, problem)
    if status == 401 and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/login?next={quote(target, safe='')}")
    return page(
        request,
        _visitor(request),
        "error.html",
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
        status_code=status,
    )
