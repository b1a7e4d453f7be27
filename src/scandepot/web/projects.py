"""The home page, the project list, and a project's page with its tabs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.access import roles
from scandepot.access.actors import Actor
from scandepot.access.permissions import Level, require_signed_in
from scandepot.archive import projects, sessions, subjects
from scandepot.archive.projects import ProjectCreate, ProjectSettings, ProjectView
from scandepot.catalog.access import Role
from scandepot.catalog.archive import (
    Accessibility,
    ConflictPolicy,
    SeriesFilterMode,
    UploadDestination,
)
from scandepot.catalog.paging import PageRequest
from scandepot.context import Context
from scandepot.errors import Forbidden, Invalid, ScandepotError, Unauthorized
from scandepot.notify import subscriptions
from scandepot.pipelines import config
from scandepot.pipelines.config import ConfigUpdate
from scandepot.web import clinical, deid, webhooks
from scandepot.web.deps import CtxDep, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter()

Text = Annotated[str | None, Query(max_length=200)]
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=200)]


def search(text: str | None) -> str | None:
    """What people type in a search box: a part of the name, unless they wrote '*'."""
    if not text:
        return None
    return text if "*" in text else f"*{text}*"


def day(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"'{value}' is not a date (YYYY-MM-DD).", field=field) from None


@router.get("/")
def home(request: Request, ctx: CtxDep, visitor: VisitorDep) -> Response:
    found = projects.list_projects(ctx, visitor.actor, PageRequest(limit=1000, sort="name"))
    mine = [v for v in found.items if v.role is not None]
    others = [v for v in found.items if v.role is None]
    return page(request, visitor, "home.html", title="Home", mine=mine, others=others)


@router.get("/projects")
def project_list(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    q: Text = None,
    sort: Text = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    found = projects.list_projects(
        ctx, visitor.actor, PageRequest(limit=limit, offset=offset, sort=sort), q=search(q)
    )
    params = {"q": q, "sort": sort, "limit": limit}
    return page(
        request, visitor, "projects.html", title="Projects", found=found, params=params, q=q or ""
    )


@router.post("/projects")
def project_create(ctx: CtxDep, form: PostedDep) -> Response:
    require_signed_in(form.actor)
    try:
        data = ProjectCreate(
            id=form.text("id") or "",
            name=form.text("name"),
            description=form.text("description") or "",
            accessibility=Accessibility(form.text("accessibility") or "private"),
        )
        view = projects.create(ctx, form.actor, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form("/projects", exc)
    label = view.project.label
    return redirect(f"/projects/{label}", ok=f"Project {label} is created; you are its owner.")


TABS = ("sessions", "subjects", "access", "manage", "pipelines")


@router.get("/projects/{project}")
def project_page(
    request: Request,
    ctx: CtxDep,
    visitor: VisitorDep,
    project: str,
    tab: Annotated[str | None, Query(max_length=16)] = None,
    label: Text = None,
    subject: Text = None,
    modality: Text = None,
    date_from: Text = None,
    date_to: Text = None,
    sort: Text = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Response:
    actor = visitor.actor
    view = projects.get(ctx, actor, project)
    tabs = [t for t in TABS if _may_open(view.level, t)]
    tab = _chosen_tab(tab, tabs, actor)
    params = {
        "tab": tab,
        "label": label,
        "subject": subject,
        "modality": modality,
        "date_from": date_from,
        "date_to": date_to,
        "sort": sort,
        "limit": limit,
    }
    listing = _Listing(
        PageRequest(limit=limit, offset=offset, sort=sort),
        label,
        subject,
        modality,
        date_from,
        date_to,
    )
    context: dict[str, Any] = {
        "view": view,
        "p": view.project,
        "tab": tab,
        "tabs": tabs,
        "params": params,
        **_tab_content(ctx, actor, view, project, tab, listing),
        **_form_choices(),
    }
    return page(request, visitor, "project.html", title=view.project.name, **context)


def _chosen_tab(tab: str | None, tabs: list[str], actor: Actor) -> str:
    """The tab asked for, if the visitor may open it; the sessions by default."""
    if tab is not None and tab not in TABS:
        raise Invalid(f"No tab '{tab}'; choose from: {', '.join(TABS)}.", field="tab")
    if tab is not None and tab not in tabs:
        if actor.is_anonymous:
            raise Unauthorized()
        if tab == "manage":
            raise Forbidden("Only the project's owners manage it.")
        raise Forbidden()
    return tab or "sessions"


@dataclass(frozen=True, slots=True)
class _Listing:
    """The page and the filters of the sessions and subjects tabs, as typed."""

    paging: PageRequest
    label: str | None
    subject: str | None
    modality: str | None
    date_from: str | None
    date_to: str | None


def _tab_content(
    ctx: Context, actor: Actor, view: ProjectView, project: str, tab: str, listing: _Listing
) -> dict[str, Any]:
    """What ``tab`` shows; a visitor who may see the project but not read it gets no tab."""
    if view.level < Level.READ:
        return {"tab": "none"}
    if tab == "sessions":
        found = sessions.list_sessions(
            ctx,
            actor,
            project,
            listing.paging,
            label=search(listing.label),
            subject=listing.subject,
            modality=listing.modality,
            date_from=day(listing.date_from, "date_from"),
            date_to=day(listing.date_to, "date_to"),
        )
        return {"found": found}
    if tab == "subjects":
        label = search(listing.label)
        return {"found": subjects.list_subjects(ctx, actor, project, listing.paging, label=label)}
    if tab == "access":
        may_list = view.role is not None or actor.is_site_admin
        return {"people": roles.list_roles(ctx, actor, project) if may_list else None}
    if tab == "pipelines":
        return {"configs": config.list_configs(ctx, actor, project)}
    if tab == "manage":
        return {
            "recipients": subscriptions.list_recipients(ctx, actor, project),
            "recipient_topics": [t.value for t in subscriptions.RECIPIENT_TOPICS],
            **webhooks.manage(ctx, actor, project),
            **deid.manage_tab(ctx, actor, project),
            **clinical.manage_tab(ctx, actor, project),
        }
    return {}


def _form_choices() -> dict[str, Any]:
    """The choices the manage and access forms offer."""
    return {
        "destinations": list(UploadDestination),
        "filter_modes": list(SeriesFilterMode),
        "policies": list(ConflictPolicy),
        "accessibilities": list(Accessibility),
        "role_words": [r.word for r in sorted(Role, reverse=True)],
    }


def _may_open(level: Level, tab: str) -> bool:
    if tab == "manage":
        return level >= Level.MANAGE
    return level >= Level.READ


@router.post("/projects/{project}/settings")
def project_settings(ctx: CtxDep, form: PostedDep, project: str) -> Response:
    back = f"/projects/{project}?tab=manage"
    try:
        data = ProjectSettings.model_validate(
            {
                "name": form.text("name"),
                "description": form.text("description") or "",
                "keywords": form.lines("keywords", commas=True),
                "upload_destination": form.text("upload_destination"),
                "allow_subject_creation": form.flag("allow_subject_creation"),
                "bulk_upload_allowed": form.flag("bulk_upload_allowed"),
                "series_filter_mode": form.text("series_filter_mode"),
                "series_filter": form.lines("series_filter"),
                "conflict_policy": form.text("conflict_policy"),
                "session_complete_after_min": form.text("session_complete_after_min"),
            }
        )
        projects.update(ctx, form.actor, project, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back, ok="The project settings are saved.")


@router.post("/projects/{project}/accessibility")
def project_accessibility(ctx: CtxDep, form: PostedDep, project: str) -> Response:
    back = f"/projects/{project}?tab=access"
    try:
        data = ProjectSettings.model_validate({"accessibility": form.text("accessibility")})
        projects.update(ctx, form.actor, project, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"The project is now {data.accessibility}.")


@router.post("/projects/{project}/roles")
def role_set(ctx: CtxDep, form: PostedDep, project: str) -> Response:
    back = f"/projects/{project}?tab=access"
    login = form.text("login") or ""
    try:
        role = Role.parse(form.text("role") or "")
    except KeyError:
        return redirect(back, error="Choose owner, member or collaborator.")
    try:
        roles.set_role(ctx, form.actor, project, login, role)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"{login} is now {role.word} of {project}.")


@router.post("/projects/{project}/roles/{login}/remove")
def role_remove(ctx: CtxDep, form: PostedDep, project: str, login: str) -> Response:
    back = f"/projects/{project}?tab=access"
    try:
        roles.remove_role(ctx, form.actor, project, login)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"{login} no longer holds a role in {project}.")


@router.post("/projects/{project}/pipelines/{pipeline}")
def pipeline_settings(ctx: CtxDep, form: PostedDep, project: str, pipeline: str) -> Response:
    back = f"/projects/{project}?tab=pipelines"
    info = config.info(pipeline)
    given: dict[str, Any] = {}
    for name, spec in info.parameters.model_fields.items():
        if spec.annotation is bool:
            given[name] = form.flag(f"p_{name}")
        elif (value := form.text(f"p_{name}")) is not None:
            given[name] = value
    try:
        typed = config.check_parameters(pipeline, given)
        defaults = config.check_parameters(pipeline, {})
        changed = {k: v for k, v in typed.items() if v != defaults[k]}
        update = ConfigUpdate(
            enabled=form.flag("enabled"), auto_launch=form.flag("auto_launch"), parameters=changed
        )
        config.configure(ctx, form.actor, project, pipeline, update)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(back, exc)
    return redirect(back, ok=f"The settings of {info.title} are saved.")
