"""Sharing from the subject and session pages: share into a project, unshare
(docs/transfers.md). The pages themselves (web/sessions.py) say where an object is shared
into, or where it is shared from."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from scandepot.catalog.transfers import ShareKind
from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.transfers import shares
from scandepot.web.deps import CtxDep, Posted, PostedDep
from scandepot.web.render import back_to_form, redirect

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
