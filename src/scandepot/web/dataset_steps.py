"""The steps of a dataset's life in the pages (docs/datasets.md, "The pages"): release and
new version; a curator's validate or send back, from the dataset's page or the curators'
queue (``/curation``); the owners' publish and withdraw; running the validation again;
the owners' decisions on access requests; and a signed-in visitor's request for access,
sent from a version's public page.

Each form calls the one service function the API's route calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from scandepot.access.actors import Actor
from scandepot.context import Context
from scandepot.datasets import access_requests, lifecycle, release, validation
from scandepot.errors import NotFound, ScandepotError
from scandepot.web.deps import CtxDep, PostedDep, VisitorDep
from scandepot.web.my_datasets import MINE, manage_url
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()

QUEUE = "/curation"
V = MINE + "/{dataset}/v{number:int}"
Step = Callable[[Context, Actor, str, int, str], Any]

# A version's steps: the service function and what the page says once it is done.
STEPS: dict[str, tuple[Step, str]] = {
    "validate": (lifecycle.validate, "is validated: its owners may publish it"),
    "send-back": (lifecycle.send_back, "is sent back to its owners, with the comments"),
    "publish": (lambda c, a, d, n, _t: lifecycle.publish(c, a, d, n), "is published"),
    "withdraw": (lifecycle.withdraw, "is withdrawn"),
    "revalidate": (lambda c, a, d, n, _t: validation.again(c, a, d, n), "is validated again"),
}


def _back(form: Any, dataset: str) -> str:
    """Where the form came from: the curators' queue, or the dataset's page."""
    return QUEUE if form.text("back") == "queue" else manage_url(dataset)


@router.post(MINE + "/{dataset}/release")
def release_draft(ctx: CtxDep, form: PostedDep, dataset: str) -> Response:
    """Release the draft: frozen, with its manifest; its validation starts."""
    try:
        made = release.release(ctx, form.actor, dataset)
    except ScandepotError as exc:
        return back_to_form(manage_url(dataset), exc)
    said = f"Version {made.number} is released: its validation runs, then a curator decides."
    return redirect(manage_url(dataset), ok=said)


@router.post(MINE + "/{dataset}/new-version")
def new_version(ctx: CtxDep, form: PostedDep, dataset: str) -> Response:
    """A new draft copied from the last version."""
    try:
        made = lifecycle.new_version(ctx, form.actor, dataset)
    except ScandepotError as exc:
        return back_to_form(manage_url(dataset), exc)
    return redirect(manage_url(dataset), ok=f"Version {made.number} is a new draft.")


@router.post(V + "/{step}")
def version_step(ctx: CtxDep, form: PostedDep, dataset: str, number: int, step: str) -> Response:
    """One of :data:`STEPS` on version ``number``, with the comment typed."""
    if step not in STEPS:
        raise NotFound(f"There is no step '{step}'.", field="step")
    run, said = STEPS[step]
    back = _back(form, dataset)
    try:
        run(ctx, form.actor, dataset, number, form.text("comment") or "")
    except ScandepotError as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"Version {number} of {dataset} {said}.")


@router.post(V + "/requests/{request_id}/{decision}")
def decide(
    ctx: CtxDep, form: PostedDep, dataset: str, number: int, request_id: int, decision: str
) -> Response:
    """An owner approves, refuses or revokes an access request, with a comment."""
    comment = form.text("comment") or ""
    back = manage_url(dataset) + "#requests"
    try:
        if decision == "revoke":
            access_requests.revoke(ctx, form.actor, dataset, number, request_id, comment=comment)
        elif decision in ("approve", "refuse"):
            access_requests.decide(
                ctx,
                form.actor,
                dataset,
                number,
                request_id,
                approve=decision == "approve",
                comment=comment,
            )
        else:
            raise NotFound(f"There is no decision '{decision}'.", field="decision")
    except ScandepotError as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"Access request {request_id}: {decision} done.")


@router.get(QUEUE)
def queue_page(request: Request, ctx: CtxDep, visitor: VisitorDep) -> Response:
    """The curators' queue: released versions awaiting them, with their reports."""
    return page(
        request,
        visitor,
        "curation.html",
        title="Curation",
        waiting=lifecycle.waiting(ctx, visitor.actor),
    )


@router.post("/datasets/{dataset}/v{number:int}/access")
def ask(ctx: CtxDep, form: PostedDep, dataset: str, number: int) -> Response:
    """A signed-in visitor asks for access to a published version, saying what for."""
    back = f"/datasets/{quote(dataset)}/v{number}"
    try:
        access_requests.request(ctx, form.actor, dataset, number, form.text("purpose") or "")
    except ScandepotError as exc:
        return back_to_form(back + "#access", exc)
    return redirect(back + "#access", ok="Your request is sent to the dataset's owners.")
