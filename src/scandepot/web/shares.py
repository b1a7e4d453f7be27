"""Sharing from the subject and session pages (share into a project, unshare), and of
the sessions ticked on a project's page (docs/transfers.md). The pages themselves
(web/sessions.py) say where an object is shared into, or where it is shared from."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from scandepot.catalog.transfers import ShareKind
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.transfers import shares, views
from scandepot.web.deps import CtxDep, Posted, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()
P = "/projects/{project}"
FOLDERS = {ShareKind.SUBJECT: "subjects", ShareKind.SESSION: "sessions"}


def _share(ctx: Context, form: Posted, kind: ShareKind, project: str, label: str) -> Response:
    back = f"/projects/{project}/{FOLDERS[kind]}/{label}"
    into = form.text("into") or ""
    try:
        if kind == ShareKind.SUBJECT:
            view = shares.share_subject(ctx, form.actor, project, label, into, form.text("label"))
        else:
            view = shares.share_session(ctx, form.actor, project, label, into, form.text("label"))
    except ScandepotError as exc:
        return back_to_form(back + "#sharing", exc)
    return redirect(back + "#sharing", ok=f"Shared into {view.project} as {view.label}.")


def _unshare(
    ctx: Context, form: Posted, kind: ShareKind, project: str, label: str, into: str
) -> Response:
    back = f"/projects/{project}/{FOLDERS[kind]}/{label}"
    try:
        shares.unshare(ctx, form.actor, project, kind, label, into)
    except ScandepotError as exc:
        return back_to_form(back + "#sharing", exc)
    return redirect(back + "#sharing", ok=f"No longer shared into {into}.")


@router.post(P + "/subjects/{subject}/shares")
def share_subject(ctx: CtxDep, form: PostedDep, project: str, subject: str) -> Response:
    return _share(ctx, form, ShareKind.SUBJECT, project, subject)


@router.post(P + "/subjects/{subject}/shares/{into}/remove")
def unshare_subject(
    ctx: CtxDep, form: PostedDep, project: str, subject: str, into: str
) -> Response:
    return _unshare(ctx, form, ShareKind.SUBJECT, project, subject, into)


@router.post(P + "/sessions/{session}/shares")
def share_session(ctx: CtxDep, form: PostedDep, project: str, session: str) -> Response:
    return _share(ctx, form, ShareKind.SESSION, project, session)


@router.post(P + "/sessions/{session}/shares/{into}/remove")
def unshare_session(
    ctx: CtxDep, form: PostedDep, project: str, session: str, into: str
) -> Response:
    return _unshare(ctx, form, ShareKind.SESSION, project, session, into)


@router.get("/shares/new")
def share_form(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    source: Annotated[str, Query(max_length=64)],
    sessions: Annotated[list[str] | None, Query(max_length=1000)] = None,
) -> Response:
    """Share the sessions ticked on a project's page: a project to share into, and a
    label there for each (its own by default)."""
    choices = views.choices(ctx, visitor.actor, source)
    return page(
        request,
        visitor,
        "share_new.html",
        title=f"Share from {choices.source}",
        choices=choices,
        sessions=sessions or [],
        tried=None,
    )


@router.post("/shares")
def share_many(request: Request, ctx: CtxDep, form: PostedDep) -> Response:
    source, into = form.text("source") or "", form.text("into") or ""
    chosen = [(s, form.text(f"label_{s}")) for s in form.values("sessions")]
    choices = views.choices(ctx, form.actor, source)  # one who may not read it learns no more
    try:
        tried = shares.share_sessions(ctx, form.actor, source, chosen, into)
    except ScandepotError as exc:
        query = urlencode([("source", source), *[("sessions", s) for s, _l in chosen]])
        return back_to_form(f"/shares/new?{query}", exc)
    return page(
        request,
        form.visitor,
        "share_new.html",
        title=f"Share from {choices.source}",
        choices=choices,
        sessions=[s for s, _l in chosen],
        tried=tried,
        into=into,
    )
