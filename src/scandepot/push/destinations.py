"""The destinations a site pushes to (site administrators only), the projects allowed to
push to each, and the sender that talks to each.

A destination's secret is stored encrypted with the site's key, or named as an
environment variable (secrets.py); views say only whether one is set. A change to its
script counts a new ``script_version`` and records its SHA-256, for pushes to say which
script they ran. :func:`open_sender` chooses the kind's sender (stow.py, dimse.py,
xnat.py) with the destination's address, credentials (read now) and TLS.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import require_site_admin
from scandepot.catalog.archive import Project
from scandepot.catalog.push import DestinationKind, PushDestination, PushDestinationProject
from scandepot.context import Context
from scandepot.deid import manage as deid_manage
from scandepot.errors import Conflict, Invalid, NotFound, ScandepotError
from scandepot.push import secrets
from scandepot.push.destination_fields import DestinationFields, Kind, checked, checked_name
from scandepot.push.http_peer import HttpPeer
from scandepot.push.sending import Sender, Unreachable

# The fields a view shows as they are stored (the secret is never among them).
SHOWN = (
    "description", "url", "ae_title", "host", "port", "calling_ae", "remote_project", "auth",
    "username", "secret_env", "verify_tls", "ca_bundle", "client_cert", "client_key",
    "external", "script_kind", "script_text", "script_pixel_text", "concurrency",
    "max_attempts", "clinical", "clinical_url", "enabled",
)  # fmt: skip
SCRIPT_FIELDS = ("script_kind", "script_text", "script_pixel_text")


class DestinationCreate(DestinationFields):
    name: str
    kind: Kind
    projects: list[str] = Field(default_factory=list, max_length=1000)


class DestinationChange(BaseModel):
    """What an administrator changes; a field left out stays. An empty string clears a
    text field (a secret, a TLS file, the script)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=255)
    url: str | None = None
    ae_title: str | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    calling_ae: str | None = None
    remote_project: str | None = None
    auth: str | None = None
    username: str | None = None
    secret: str | None = None
    secret_env: str | None = None
    verify_tls: bool | None = None
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    external: bool | None = None
    script_kind: str | None = None
    script_text: str | None = None
    script_pixel_text: str | None = None
    concurrency: int | None = None
    max_attempts: int | None = None
    clinical: str | None = None
    clinical_url: str | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class DestinationView:
    name: str
    kind: str
    description: str
    url: str | None
    ae_title: str | None
    host: str | None
    port: int | None
    calling_ae: str | None
    remote_project: str | None
    auth: str
    username: str | None
    secret_set: bool  # a secret is stored, or named by secret_env
    secret_env: str | None
    verify_tls: bool
    ca_bundle: str | None
    client_cert: str | None
    client_key: str | None
    external: bool
    script_kind: str | None
    script_text: str
    script_pixel_text: str
    script_version: int
    script_sha256: str | None
    concurrency: int
    max_attempts: int
    clinical: str
    clinical_url: str | None
    enabled: bool
    projects: list[str]
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class Checked:
    """How reaching a destination went: ``ok``, or the reason it did not."""

    name: str
    ok: bool
    reason: str


def _projects(db: DBSession, destination_id: int) -> list[str]:
    rows = db.scalars(
        select(Project.label)
        .join(PushDestinationProject, PushDestinationProject.project_id == Project.id)
        .where(PushDestinationProject.destination_id == destination_id)
        .order_by(Project.label)
    )
    return list(rows)


def _view(db: DBSession, row: PushDestination) -> DestinationView:
    shown = {name: getattr(row, name) for name in SHOWN}
    return DestinationView(
        name=row.name,
        kind=row.kind,
        secret_set=bool(row.secret or row.secret_env),
        script_version=row.script_version,
        script_sha256=row.script_sha256,
        projects=_projects(db, row.id),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **shown,
    )


def load(db: DBSession, name: str) -> PushDestination:
    """The destination called ``name``; NotFound if there is none."""
    row = db.scalar(select(PushDestination).where(PushDestination.name == name.strip()))
    if row is None:
        raise NotFound(f"Push destination '{name.strip()[:100]}' not found.", field="name")
    return row


def is_allowed(db: DBSession, destination: PushDestination, project_id: int) -> bool:
    """Whether the project may push to ``destination``."""
    found = db.get(PushDestinationProject, (destination.id, project_id))
    return found is not None


def _project(db: DBSession, label: str) -> Project:
    project = db.scalar(select(Project).where(Project.label == label.strip()))
    if project is None:
        raise NotFound(f"Project '{label.strip()[:100]}' not found.", field="projects")
    return project


def _store(ctx: Context, row: PushDestination, data: DestinationFields) -> None:
    """Write the checked fields onto ``row``: the secret encrypted, the script counted."""
    before = (row.script_kind, row.script_text or "", row.script_pixel_text or "")
    for name in SHOWN:
        setattr(row, name, getattr(data, name))
    if data.secret is not None:
        row.secret, row.secret_env = secrets.encrypt(ctx, data.secret), None
    elif data.secret_env is not None:
        row.secret = None
    if data.auth == "none":
        row.secret = row.secret_env = None
    after = (data.script_kind, data.script_text, data.script_pixel_text)
    if after != before:
        row.script_version = (row.script_version or 0) + 1
        row.script_sha256 = (
            deid_manage.digest(data.script_text, data.script_pixel_text)
            if data.script_kind
            else None
        )


def _fields(data: dict[str, object]) -> DestinationFields:
    try:
        return DestinationFields.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise Invalid(f"{field}: {first['msg']}", field=field) from None


def add(ctx: Context, actor: Actor, data: DestinationCreate) -> DestinationView:
    """Set up a destination; its name must be new, its projects exist."""
    require_site_admin(actor)
    name = checked_name(data.name)
    fields = checked(data.kind, _fields(data.model_dump(exclude={"name", "kind", "projects"})))
    with ctx.db.write() as db:
        if db.scalar(select(PushDestination.id).where(PushDestination.name == name)):
            raise Conflict(f"Push destination '{name}' exists already.", field="name")
        projects = [_project(db, label) for label in dict.fromkeys(data.projects)]
        row = PushDestination(name=name, kind=data.kind, created_by=actor.login[:64])
        _store(ctx, row, fields)
        db.add(row)
        db.flush()
        for project in projects:
            db.add(
                PushDestinationProject(
                    destination_id=row.id, project_id=project.id, created_by=actor.login[:64]
                )
            )
        db.flush()
        view = _view(db, row)
        audit.record(
            db,
            actor,
            AuditAction.PUSH_DESTINATION_ADDED,
            target=name,
            kind=data.kind,
            external=fields.external,
            projects=view.projects,
        )
        return view


def list_destinations(ctx: Context, actor: Actor) -> list[DestinationView]:
    require_site_admin(actor)
    with ctx.db.read() as db:
        rows = db.scalars(select(PushDestination).order_by(PushDestination.name)).all()
        return [_view(db, row) for row in rows]


def show(ctx: Context, actor: Actor, name: str) -> DestinationView:
    require_site_admin(actor)
    with ctx.db.read() as db:
        return _view(db, load(db, name))


def _merged(row: PushDestination, change: DestinationChange) -> tuple[dict[str, object], bool]:
    """The fields after ``change``, and whether the stored secret stays."""
    given = change.model_dump(exclude_unset=True)
    merged: dict[str, object] = {name: getattr(row, name) for name in SHOWN}
    merged.update({k: v for k, v in given.items() if k != "secret"})
    if merged.get("script_kind") == "":
        merged["script_kind"] = None
    secret = given.get("secret")
    merged["secret"] = secret or None
    if secret:
        merged["secret_env"] = None
    kept = bool(row.secret) and secret is None and not given.get("secret_env")
    return merged, kept


def change(ctx: Context, actor: Actor, name: str, data: DestinationChange) -> DestinationView:
    """Change what is given; the rest stays. The whole is checked again."""
    require_site_admin(actor)
    with ctx.db.write() as db:
        row = load(db, name)
        merged, kept = _merged(row, data)
        fields = checked(row.kind, _fields(merged), secret_kept=kept)
        if not kept and fields.secret is None:
            row.secret = None
        _store(ctx, row, fields)
        db.flush()
        audit.record(
            db,
            actor,
            AuditAction.PUSH_DESTINATION_CHANGED,
            target=row.name,
            fields=sorted(data.model_fields_set),
        )
        return _view(db, row)


def remove(ctx: Context, actor: Actor, name: str) -> None:
    """Remove a destination; the reports of its pushes keep its name."""
    require_site_admin(actor)
    with ctx.db.write() as db:
        row = load(db, name)
        db.execute(
            delete(PushDestinationProject).where(PushDestinationProject.destination_id == row.id)
        )
        db.delete(row)
        audit.record(db, actor, AuditAction.PUSH_DESTINATION_REMOVED, target=row.name)


def allow(ctx: Context, actor: Actor, name: str, project: str) -> DestinationView:
    """Let ``project`` push to the destination (again: nothing changes)."""
    require_site_admin(actor)
    with ctx.db.write() as db:
        row = load(db, name)
        found = _project(db, project)
        if not is_allowed(db, row, found.id):
            db.add(
                PushDestinationProject(
                    destination_id=row.id, project_id=found.id, created_by=actor.login[:64]
                )
            )
            db.flush()
            audit.record(
                db,
                actor,
                AuditAction.PUSH_DESTINATION_CHANGED,
                target=row.name,
                fields=["projects"],
                allowed=found.label,
            )
        return _view(db, row)


def disallow(ctx: Context, actor: Actor, name: str, project: str) -> DestinationView:
    """Stop ``project`` pushing to the destination; pushes under way go on."""
    require_site_admin(actor)
    with ctx.db.write() as db:
        row = load(db, name)
        found = _project(db, project)
        link = db.get(PushDestinationProject, (row.id, found.id))
        if link is not None:
            db.delete(link)
            db.flush()
            audit.record(
                db,
                actor,
                AuditAction.PUSH_DESTINATION_CHANGED,
                target=row.name,
                fields=["projects"],
                disallowed=found.label,
            )
        return _view(db, row)


def check(ctx: Context, actor: Actor, name: str) -> Checked:
    """Reach the destination once (QIDO-RS, C-ECHO, the far project): ``ok``, or why not."""
    require_site_admin(actor)
    with ctx.db.read() as db:
        row = load(db, name)
        db.expunge(row)
    try:
        sender = open_sender(ctx, row)
    except ScandepotError as exc:
        return Checked(row.name, False, exc.message)
    try:
        sender.check()
    except Unreachable as exc:
        return Checked(row.name, False, f"unreachable: {exc.reason}")
    except ScandepotError as exc:
        return Checked(row.name, False, exc.message)
    finally:
        sender.close()
    return Checked(row.name, True, "reached")


def http_peer(ctx: Context, destination: PushDestination) -> HttpPeer:
    """The HTTP side of ``destination`` (DICOMweb, XNAT), its secret read now."""
    if not destination.url:
        raise Invalid(f"Destination '{destination.name}' has no URL.", field="url")
    return HttpPeer(
        url=destination.url,
        auth=destination.auth,
        username=destination.username,
        secret=secrets.resolve(
            ctx, destination.secret, destination.secret_env, name=destination.name
        ),
        verify_tls=destination.verify_tls,
        ca_bundle=destination.ca_bundle,
        client_cert=destination.client_cert,
        client_key=destination.client_key,
        timeout_s=ctx.settings.push_timeout_s,
        connections=destination.concurrency,
    )


def open_sender(ctx: Context, destination: PushDestination) -> Sender:
    """The sender of ``destination``'s kind; the caller closes it. Raises Invalid when the
    destination cannot be used as it is (a secret that cannot be read, TLS files)."""
    kind = destination.kind
    if kind == DestinationKind.DICOMWEB:
        from scandepot.push.stow import StowSender

        return StowSender(http_peer(ctx, destination))
    if kind == DestinationKind.DIMSE:
        from scandepot.push.dimse import DimsePeer, DimseSender

        if not (destination.ae_title and destination.host and destination.port):
            raise Invalid(f"Destination '{destination.name}' has no AE title, host and port.")
        return DimseSender(
            DimsePeer(
                ae_title=destination.ae_title,
                host=destination.host,
                port=destination.port,
                calling_ae=destination.calling_ae or ctx.settings.ae_title,
                timeout_s=ctx.settings.push_timeout_s,
            )
        )
    if kind == DestinationKind.XNAT:
        from scandepot.push.xnat import XnatSender, XnatTarget

        if not destination.remote_project:
            raise Invalid(f"Destination '{destination.name}' has no remote project.")
        return XnatSender(XnatTarget(http_peer(ctx, destination), destination.remote_project))
    raise Invalid(f"Destination '{destination.name}' is of unknown kind '{kind}'.", field="kind")
