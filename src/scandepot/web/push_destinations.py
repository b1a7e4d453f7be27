"""Site administration: the destinations pushes go to. A secret is typed into a password
field and never filled back; left empty on the edit form, the stored one stays."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.access.permissions import require_site_admin
from scandepot.errors import ScandepotError
from scandepot.push import destinations
from scandepot.push.destinations import DestinationChange, DestinationCreate
from scandepot.web.deps import CtxDep, Posted, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter(prefix="/admin/push-destinations")
BASE = "/admin/push-destinations"

TEXT_FIELDS = (
    "description", "url", "ae_title", "host", "calling_ae", "remote_project", "auth",
    "username", "secret_env", "ca_bundle", "client_cert", "client_key", "script_kind",
    "script_text", "script_pixel_text", "clinical", "clinical_url",
)  # fmt: skip
NUMBER_FIELDS = ("port", "concurrency", "max_attempts")
FLAGS = ("verify_tls", "external", "enabled")


def _fields(form: Posted) -> dict[str, Any]:
    """The form's fields as the service's: text as typed ('' clears on a change), numbers
    when given, the ticks; the secret only when one was typed."""
    fields: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = form.form.get(name)
        if isinstance(value, str):
            fields[name] = (
                value if name.startswith("script_") and name != "script_kind" else value.strip()
            )
    for name in NUMBER_FIELDS:
        if form.text(name) is not None:
            fields[name] = form.text(name)
    for name in FLAGS:
        fields[name] = form.flag(name)
    secret = form.form.get("secret")
    if isinstance(secret, str) and secret:
        fields["secret"] = secret
    elif form.flag("clear_secret"):
        fields["secret"] = ""
    return fields


@router.get("")
def destination_list(request: Request, ctx: CtxDep, visitor: VisitorDep) -> Response:
    require_site_admin(visitor.actor)
    found = destinations.list_destinations(ctx, visitor.actor)
    return page(request, visitor, "push_destinations.html", title="Push destinations", found=found)


@router.post("")
def destination_add(ctx: CtxDep, form: PostedDep) -> Response:
    require_site_admin(form.actor)
    try:
        fields = {k: v for k, v in _fields(form).items() if v != ""}
        data = DestinationCreate(
            name=form.text("name") or "",
            kind=form.text("kind") or "",  # type: ignore[arg-type]
            projects=form.lines("projects", commas=True),
            **fields,
        )
        view = destinations.add(ctx, form.actor, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(BASE, exc)
    return redirect(f"{BASE}/{view.name}", ok=f"Destination {view.name} is set up.")


@router.get("/{name}")
def destination_page(request: Request, ctx: CtxDep, visitor: VisitorDep, name: str) -> Response:
    require_site_admin(visitor.actor)
    view = destinations.show(ctx, visitor.actor, name)
    return page(request, visitor, "push_destination.html", title=view.name, d=view)


@router.post("/{name}")
def destination_change(ctx: CtxDep, form: PostedDep, name: str) -> Response:
    require_site_admin(form.actor)
    try:
        fields = _fields(form)
        for number in NUMBER_FIELDS:
            fields.setdefault(number, None)
        data = DestinationChange(**{k: v for k, v in fields.items() if v is not None})
        destinations.change(ctx, form.actor, name, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(f"{BASE}/{name}", exc)
    return redirect(f"{BASE}/{name}", ok=f"Destination {name} is saved.")


@router.post("/{name}/allow")
def destination_allow(ctx: CtxDep, form: PostedDep, name: str) -> Response:
    require_site_admin(form.actor)
    project = form.text("project") or ""
    try:
        destinations.allow(ctx, form.actor, name, project)
    except ScandepotError as exc:
        return back_to_form(f"{BASE}/{name}", exc)
    return redirect(f"{BASE}/{name}", ok=f"Project {project} may push to {name}.")


@router.post("/{name}/disallow")
def destination_disallow(ctx: CtxDep, form: PostedDep, name: str) -> Response:
    require_site_admin(form.actor)
    project = form.text("project") or ""
    try:
        destinations.disallow(ctx, form.actor, name, project)
    except ScandepotError as exc:
        return back_to_form(f"{BASE}/{name}", exc)
    return redirect(f"{BASE}/{name}", ok=f"Project {project} may no longer push to {name}.")


@router.post("/{name}/check")
def destination_check(ctx: CtxDep, form: PostedDep, name: str) -> Response:
    require_site_admin(form.actor)
    checked = destinations.check(ctx, form.actor, name)
    if checked.ok:
        return redirect(f"{BASE}/{name}", ok=f"Destination {name} was reached.")
    return redirect(f"{BASE}/{name}", error=f"Destination {name}: {checked.reason}")


@router.post("/{name}/remove")
def destination_remove(ctx: CtxDep, form: PostedDep, name: str) -> Response:
    require_site_admin(form.actor)
    destinations.remove(ctx, form.actor, name)
    return redirect(BASE, ok=f"Destination {name} is removed.")
