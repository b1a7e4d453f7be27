"""Errors under ``/data``, ``/REST`` and ``/xapi`` as XNAT answers them: the status, and a
short HTML status page whose ``<h3>`` holds the message (xnatpy shows that line to its
user). :mod:`scandepot.http.errors` has mapped the error already; this only words it,
and says 400 where the native API says 422: XNAT answers invalid input so."""

from __future__ import annotations

import html

from fastapi import Request
from starlette.responses import Response

from scandepot.http.errors import Problem

ROOTS = ("/data/", "/REST/", "/xapi/")
PATHS = ("/data", "/REST", "/xapi")


def is_xnat(request: Request) -> bool:
    path = request.url.path
    return path.startswith(ROOTS) or path in PATHS


def render(request: Request, exc: Exception, problem: Problem) -> Response | None:
    if not is_xnat(request):
        return None
    message = html.escape(problem.message)
    body = f"<html><head><title>Status page</title></head><body><h3>{message}</h3></body></html>\n"
    return Response(
        body,
        status_code=400 if problem.status == 422 else problem.status,
        media_type="text/html; charset=utf-8",
        headers=problem.headers,
    )
