"""WADO-URI (PS3.18 §9): one instance by its three UIDs, as ``application/dicom`` or a
rendered picture (``image/jpeg``, ``image/png``)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from scandepot.context import Context
from scandepot.errors import BadRequest, NotAcceptable
from scandepot.query.scope import Scope
from scandepot.retrieve import rendered, syntaxes, wado
from scandepot.retrieve.instances import check_uid, locate
from scandepot.retrieve.multipart import Whole

DICOM = "application/dicom"
UNSUPPORTED = ("anonymize", "annotation", "region", "presentationUID", "presentationSeriesUID")


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise BadRequest(f"WADO-URI needs the parameter {name}.", field=name)
    return value


def _content_type(params: Mapping[str, str]) -> str:
    """The first type of ``contentType`` served here (default image/jpeg)."""
    asked = params.get("contentType") or rendered.JPEG
    for item in asked.split(","):
        kind = item.split(";")[0].strip().lower()
        if kind in (DICOM, rendered.JPEG, rendered.PNG):
            return kind
    raise NotAcceptable(
        f"contentType '{asked[:64]}': this server sends application/dicom, image/jpeg and "
        "image/png.",
        field="contentType",
    )


def _number(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(f"{name} is a whole number from {low} to {high}.", field=name)
    return int(value)


def _rendering(params: Mapping[str, str], kind: str) -> rendered.Rendering:
    center, width = params.get("windowCenter"), params.get("windowWidth")
    if (center is None) != (width is None):
        raise BadRequest("windowCenter and windowWidth go together.", field="windowCenter")
    window = None if center is None else rendered.parse_window(f"{center},{width},linear")
    rows = _number(params, "rows", 1, rendered.MAX_VIEWPORT)
    columns = _number(params, "columns", 1, rendered.MAX_VIEWPORT)
    viewport = None
    if rows or columns:
        viewport = (columns or rendered.MAX_VIEWPORT, rows or rendered.MAX_VIEWPORT)
    quality = _number(params, "imageQuality", 1, 100)
    return rendered.Rendering(kind, quality or 90, window, viewport)


def retrieve(ctx: Context, scope: Scope, params: Mapping[str, str]) -> Whole | rendered.Picture:
    """The object the parameters name, as the first content type asked for that is
    served here."""
    if params.get("requestType") != "WADO":
        raise BadRequest("requestType must be WADO.", field="requestType")
    study, series, instance = (
        check_uid(_required(params, name), name) for name in ("studyUID", "seriesUID", "objectUID")
    )
    for name in UNSUPPORTED:
        if name in params and not (name == "anonymize" and params[name] == "no"):
            raise BadRequest(f"The parameter {name} is not supported here.", field=name)
    kind = _content_type(params)
    frame = _number(params, "frameNumber", 1, 1 << 31)
    if kind == DICOM:
        wanted = [params.get("transferSyntax") or syntaxes.ANY]
        started_ns = time.time_ns()
        (found,) = locate(ctx, scope, study, series, instance)
        part = wado.part_of(found, wanted)
        return Whole(dataclasses.replace(part, content_type=DICOM), started_ns=started_ns)
    asked = _rendering(params, kind)
    data = rendered.rendered(ctx, scope, asked, study, series, instance, frame)
    return rendered.Picture(data, kind)
