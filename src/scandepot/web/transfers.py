"""Copies and moves in the pages: sessions chosen on a project's page, a form, the check
with a Confirm button, then the transfer's page with its progress and report; the list
of transfers.

The request travels from the check to the confirmation as JSON in a hidden field, the
mapping CSV read into it: the server checks it again when it starts.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from scandepot.catalog.paging import PageRequest
from scandepot.catalog.transfers import TransferKind
from scandepot.errors import Invalid, ScandepotError
from scandepot.transfers import labels, service, views
from scandepot.transfers.plan import Plan
from scandepot.transfers.requests import Clash, Landing, TransferRequest
from scandepot.web.deps import CtxDep, Posted, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()

Label = Annotated[str | None, Query(max_length=64)]
Labels = Annotated[list[str] | None, Query(max_length=1000)]
MAX_MAP_BYTES = 16 * 1024 * 1024
REFRESH_S = 2  # how often a transfer's page reloads itself while it runs


@router.get("/transfers")
def transfer_list(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    project: Label = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    found = service.list_transfers(
        ctx, visitor.actor, PageRequest(limit=50, offset=offset), project=project
    )
    params = {"project": project}
    return page(request, visitor, "transfers.html", title="Transfers", found=found, params=params)


@router.get("/transfers/new")
def transfer_form(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    source: Annotated[str, Query(max_length=64)],
    kind: Annotated[TransferKind, Query()] = TransferKind.COPY,
    sessions: Labels = None,
    subjects: Labels = None,
) -> Response:
    """The form: destination, labels, scans, resources, clashes, landing."""
    choices = views.choices(ctx, visitor.actor, source)
    return page(
        request,
        visitor,
        "transfer_new.html",
        title=f"{kind.value.capitalize()} from {choices.source}",
        choices=choices,
        kind=kind.value,
        sessions=sessions or [],
        subjects=", ".join(subjects or []),
        clashes=list(Clash),
        landings=list(Landing),
    )


def _map_of(form: Posted) -> tuple[dict[str, str], dict[str, str]]:
    upload = form.form.get("map")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return {}, {}
    try:
        data = upload.file.read(MAX_MAP_BYTES + 1)
    finally:
        upload.file.close()  # the form's spooled file: read once, here
    if len(data) > MAX_MAP_BYTES:
        raise Invalid(f"The map is over {MAX_MAP_BYTES // (1024 * 1024)} MiB.", field="map")
    try:
        return labels.read_map(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise Invalid("The map is not a UTF-8 text file.", field="map") from None


def _request_of(form: Posted) -> TransferRequest:
    subject_map, session_map = _map_of(form)
    return TransferRequest.model_validate(
        {
            "kind": form.text("kind") or "copy",
            "source": form.text("source") or "",
            "destination": form.text("destination") or "",
            "sessions": form.values("sessions") + form.lines("more_sessions", commas=True),
            "subjects": form.lines("subjects", commas=True),
            "subject_map": subject_map,
            "session_map": session_map,
            "subject_rule": form.text("subject_rule"),
            "session_rule": form.text("session_rule"),
            "scans": form.lines("scans", commas=True),
            "with_resources": form.flag("with_resources"),
            "deidentify": form.flag("deidentify"),
            "allow_burned_in": form.flag("allow_burned_in"),
            "on_clash": form.text("on_clash") or Clash.STOP.value,
            "landing": form.text("landing"),
        }
    )


def _back(form: Posted) -> str:
    """The form again, with what was chosen on the project's page."""
    query = [("source", form.text("source") or ""), ("kind", form.text("kind") or "copy")]
    query += [("sessions", s) for s in form.values("sessions")]
    query += [("subjects", s) for s in form.lines("subjects", commas=True)]
    return "/transfers/new?" + urlencode(query)


def _check_page(
    request: Request, form: Posted, asked: TransferRequest, found: Plan, *, status: int = 200
) -> Response:
    return page(
        request,
        form.visitor,
        "transfer_check.html",
        status=status,
        title=f"Check: {asked.kind.value} from {asked.source} to {asked.destination}",
        plan=found,
        asked=asked,
        asked_json=asked.model_dump_json(),
        back=_back(form),
    )


@router.post("/transfers/check")
def transfer_check(request: Request, ctx: CtxDep, form: PostedDep) -> Response:
    """The check of what the form asks: every problem, the warnings, where each session
    goes; writes nothing."""
    try:
        asked = _request_of(form)
        found = service.check(ctx, form.actor, asked)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(_back(form), exc)
    return _check_page(request, form, asked, found)


@router.post("/transfers")
def transfer_start(request: Request, ctx: CtxDep, form: PostedDep) -> Response:
    """Confirmed: start the checked request, or show the check again when it no longer
    passes."""
    try:
        asked = TransferRequest.model_validate_json(form.text("request") or "{}")
        started = views.submit(ctx, form.actor, asked)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form("/transfers", exc)
    if isinstance(started, Plan):
        return _check_page(request, form, asked, started, status=409)
    number = started.transfer.id
    return redirect(f"/transfers/{number}", ok=f"Transfer {number} is queued.")


@router.get("/transfers/{transfer_id}")
def transfer_page(request: Request, ctx: CtxDep, visitor: VisitorDep, transfer_id: int) -> Response:
    """Progress while it runs (the page reloads itself), then the report."""
    view = service.get(ctx, visitor.actor, transfer_id)
    context: dict[str, Any] = {
        "t": view.transfer,
        "view": view,
        "report": views.report(view),
        "refresh": None if view.finished else REFRESH_S,
    }
    return page(request, visitor, "transfer.html", title=f"Transfer {transfer_id}", **context)


@router.post("/transfers/{transfer_id}/cancel")
def transfer_cancel(ctx: CtxDep, form: PostedDep, transfer_id: int) -> Response:
    back = f"/transfers/{transfer_id}"
    try:
        view = service.cancel(ctx, form.actor, transfer_id)
    except ScandepotError as exc:
        return back_to_form(back, exc)
    said = "is cancelled" if view.finished else "stops at its next step"
    return redirect(back, ok=f"Transfer {transfer_id} {said}.")
