"""The checks of a STOW-RS request that need no body: the study in its path, what it
accepts back, and its Content-Type (PS3.18 10.5.1)."""

from __future__ import annotations

from dataclasses import dataclass

from scandepot.dicom import uids
from scandepot.errors import ScandepotError, Unsupported
from scandepot.ingest.multipart import Malformed, media_type
from scandepot.ingest.stow_response import MEDIA_TYPE

DICOM = "application/dicom"
_JSON = {"*/*", "application/*", MEDIA_TYPE, "application/json"}


class NotAcceptable(ScandepotError):
    code = "not_acceptable"
    status = 406


@dataclass(frozen=True, slots=True)
class Request:
    """What the route read from the request line and headers."""

    project: str | None  # the root's project; None: the site-wide root
    study: str | None  # the StudyInstanceUID the path names
    content_type: str | None
    accept: str | None
    root_url: str  # the root the request came in on, for Retrieve URLs


def _check_accept(accept: str | None) -> None:
    if accept is None or not accept.strip():
        return
    for item in accept.split(","):
        kind, params = media_type(item)
        try:
            weight = float(params.get("q", "1"))
        except ValueError:
            weight = 1.0
        if kind in _JSON and weight > 0:
            return
    raise NotAcceptable(
        f"STOW-RS answers in {MEDIA_TYPE} only (application/dicom+xml is not "
        f"supported), and the Accept header '{accept[:200]}' does not take it."
    )


def _boundary(content_type: str | None) -> str:
    kind, params = media_type(content_type)
    if kind != "multipart/related":
        raise Unsupported(
            "STOW-RS takes a multipart/related body of application/dicom parts, not "
            f"'{kind or 'no Content-Type'}'.",
            field="content-type",
        )
    parts = media_type(params.get("type", DICOM))[0]
    if parts != DICOM:
        raise Unsupported(
            f"Only application/dicom instances are stored, not '{parts}': metadata with "
            "bulk data (application/dicom+json, application/dicom+xml) is not supported.",
            field="content-type",
        )
    boundary = params.get("boundary")
    if not boundary:
        raise Malformed("The Content-Type names no boundary: the parts cannot be found.")
    return boundary


def boundary_of(request: Request) -> str:
    """The body's multipart boundary, once the request's line and headers pass."""
    if request.study is not None:
        try:
            uids.check(request.study, "The study in the path")
        except uids.InvalidUID as exc:
            raise Malformed(str(exc)) from None
    _check_accept(request.accept)
    return _boundary(request.content_type)
