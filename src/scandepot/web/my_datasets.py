"""The datasets of the signed-in user (docs/datasets.md, "The pages"): the ones they own
(every one for curators), a new one, and a dataset's page of management: its draft's
metadata and members, its owners, its versions with the steps their state allows, their
validation reports, access requests and history. The steps themselves are in
:mod:`scandepot.web.dataset_steps`.

Pages live under ``/my-datasets``, beside the public catalogue's ``/datasets``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.catalog.paging import PageRequest
from scandepot.datasets import access_requests, drafts, members, metadata, owners
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange
from scandepot.datasets.views import DatasetView
from scandepot.errors import Invalid, ScandepotError
from scandepot.web import dataset_forms
from scandepot.web.deps import CtxDep, PostedDep, Visitor, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()

MINE = "/my-datasets"
PUBLIC_STATES = ("published", "withdrawn")
REQUESTS_SHOWN = 200


def manage_url(dataset: str) -> str:
    return f"{MINE}/{quote(dataset)}"


@router.get(MINE)
def mine_page(request: Request, ctx: CtxDep, visitor: VisitorDep) -> Response:
    """The datasets the visitor owns (curators: every one), each version's state."""
    return page(
        request,
        visitor,
        "my_datasets.html",
        title="My datasets",
        found=drafts.list_mine(ctx, visitor.actor),
    )


@router.post(MINE)
def create(ctx: CtxDep, form: PostedDep) -> Response:
    try:
        asked = DatasetCreate(name=form.text("name") or "", metadata=_titled(form))
        made = drafts.create(ctx, form.actor, asked)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(MINE, exc)
    return redirect(manage_url(made.stable_id), ok=f"Dataset {made.stable_id} is made: a draft.")


def _titled(form: Any) -> dict[str, Any]:
    title = form.text("title")
    return {"title": title} if title else {}


def _manage(
    request: Request,
    ctx: CtxDep,
    visitor: Visitor,
    dataset: str,
    *,
    status: int = 200,
    typed: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response:
    actor = visitor.actor
    history = drafts.steps(ctx, actor, dataset)  # owners and curators alone, fails closed
    found = drafts.get(ctx, actor, dataset)
    form = dataset_forms.fields(metadata.schema(ctx.settings, release=True))
    draft = next((v for v in found.versions if v.state == "draft"), None)
    return page(
        request,
        visitor,
        "my_dataset.html",
        status=status,
        title=f"{found.name} ({found.stable_id})",
        d=found,
        draft=draft,
        owner=_owns(visitor, found),
        form=form,
        typed=typed if typed is not None else _shown(draft, form),
        errors=errors or {},
        members=members.listed(ctx, actor, dataset),
        history=list(reversed(history)),
        requests=_requests(ctx, visitor, found),
    )


def _shown(draft: Any, form: list[dataset_forms.FormField]) -> dict[str, str]:
    return dataset_forms.shown(draft.metadata, form) if draft is not None else {}


def _owns(visitor: Visitor, found: DatasetView) -> bool:
    return visitor.actor.is_site_admin or visitor.actor.login in (found.owners or ())


def _requests(ctx: CtxDep, visitor: Visitor, found: DatasetView) -> list[Any]:
    """The access requests of the public versions, for the owners' decisions."""
    if not _owns(visitor, found):
        return []
    shown = PageRequest(limit=REQUESTS_SHOWN)
    return [
        r
        for v in found.versions
        if v.state in PUBLIC_STATES
        for r in access_requests.of_version(
            ctx, visitor.actor, found.stable_id, v.number, shown
        ).items
    ]


@router.get(MINE + "/{dataset}")
def manage_page(request: Request, ctx: CtxDep, visitor: VisitorDep, dataset: str) -> Response:
    """A dataset's management: owners and curators."""
    return _manage(request, ctx, visitor, dataset)


@router.post(MINE + "/{dataset}/metadata")
def edit_metadata(request: Request, ctx: CtxDep, form: PostedDep, dataset: str) -> Response:
    """Save the draft's metadata; what breaks the schema is shown by its field."""
    given = dataset_forms.fields(metadata.schema(ctx.settings, release=True))
    try:
        drafts.update(ctx, form.actor, dataset, dataset_forms.read(form, given))
    except Invalid as exc:
        if not (exc.field or "").startswith("metadata"):
            return back_to_form(manage_url(dataset), exc)
        typed = {f.name: str(form.form.get(f.name) or "") for f in given}
        errors = dataset_forms.errors(exc)
        return _manage(request, ctx, form.visitor, dataset, status=422, typed=typed, errors=errors)
    except ScandepotError as exc:
        return back_to_form(manage_url(dataset), exc)
    return redirect(manage_url(dataset) + "#metadata", ok="The draft's metadata is saved.")


@router.post(MINE + "/{dataset}/members")
def change_members(ctx: CtxDep, form: PostedDep, dataset: str) -> Response:
    """Add subjects and sessions (``PROJECT/LABEL`` or a site-wide ID, one per line) and
    take out those ticked."""
    try:
        asked = MemberChange(
            add_subjects=form.lines("add_subjects", commas=True),
            add_sessions=form.lines("add_sessions", commas=True),
            remove_subjects=form.values("remove_subjects"),
            remove_sessions=form.values("remove_sessions"),
        )
        held = members.change(ctx, form.actor, dataset, asked)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(manage_url(dataset) + "#members", exc)
    return redirect(manage_url(dataset) + "#members", ok=f"The draft holds {len(held)} member(s).")


@router.post(MINE + "/{dataset}/owners")
def add_owner(ctx: CtxDep, form: PostedDep, dataset: str) -> Response:
    login = form.text("login") or ""
    try:
        owners.add(ctx, form.actor, dataset, login)
    except ScandepotError as exc:
        return back_to_form(manage_url(dataset) + "#owners", exc)
    return redirect(manage_url(dataset) + "#owners", ok=f"{login} owns the dataset too.")


@router.post(MINE + "/{dataset}/owners/{login}/remove")
def remove_owner(ctx: CtxDep, form: PostedDep, dataset: str, login: str) -> Response:
    try:
        owners.remove(ctx, form.actor, dataset, login)
    except ScandepotError as exc:
        return back_to_form(manage_url(dataset) + "#owners", exc)
    return redirect(manage_url(dataset) + "#owners", ok=f"{login} no longer owns the dataset.")


@router.post(MINE + "/{dataset}/delete")
def delete(ctx: CtxDep, form: PostedDep, dataset: str) -> Response:
    """Delete a dataset that was never released."""
    try:
        drafts.delete(ctx, form.actor, dataset)
    except ScandepotError as exc:
        return back_to_form(manage_url(dataset), exc)
    return redirect(MINE, ok=f"Dataset {dataset} is deleted.")
