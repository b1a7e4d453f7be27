"""Webhooks: a project's URLs, signed JSON deliveries of its events, their log.

A webhook is set up by those who may configure its project. Each journal event of the
project that the webhook wants becomes one delivery in the outbox (:func:`enqueue`, in
the dispatcher's transaction); the sender POSTs it (:func:`deliver`), signed with the
webhook's secret, and records how it went; temporary failures are tried again with the
outbox's back-off. The secret is never shown back, but once when it is made here.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot import __version__
from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action, load_project
from scandepot.catalog.archive import Project
from scandepot.catalog.journal import EventRecord
from scandepot.catalog.notify import URL_LENGTH, Delivery, OutboxMessage, Topic, Webhook
from scandepot.context import Context
from scandepot.errors import Invalid, NotFound
from scandepot.events import JOURNALLED
from scandepot.notify import outbox, signing
from scandepot.notify.links import Links
from scandepot.notify.outbox import Attempt

ANSWER_SHOWN = 300  # characters of a refusing receiver's answer kept in the log

# What a webhook may ask for: the journal's events that name a project.
EVENTS = tuple(kind for kind in JOURNALLED if kind not in ("ReceiverSilent", "DatasetChanged"))

# The outbox's topic of a delivery (the event's own name is in its body and its subject).
_TOPICS = {
    "SessionArchived": Topic.ARCHIVED,
    "SessionNeedsAttention": Topic.ATTENTION,
    "SessionStuck": Topic.STUCK,
    "ReceiverSilent": Topic.STUCK,
}


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str  # checked by checked_url, which names the field
    # None: one is made and shown once, in the answer.
    secret: str | None = Field(default=None, max_length=signing.SECRET_MAX)
    events: list[str] = Field(default_factory=list, max_length=len(EVENTS))  # []: all
    enabled: bool = True
    description: str = Field(default="", max_length=255)


class WebhookChange(BaseModel):
    """What an owner changes; each field optional."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    events: list[str] | None = Field(default=None, max_length=len(EVENTS))
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=255)
    secret: str | None = Field(default=None, max_length=signing.SECRET_MAX)
    new_secret: bool = False  # make a new secret, shown once in the answer


@dataclass(frozen=True, slots=True)
class WebhookView:
    id: int
    url: str
    events: list[str]
    enabled: bool
    description: str
    secret_set: bool
    secret_hint: str  # the secret's last 4 characters at most
    created_by: str
    created_at: dt.datetime
    secret: str | None = None  # only in the answer that made it


def checked_url(value: str, *, field: str = "url") -> str:
    """A receiver's URL: http or https, a host, no user name or password in it."""
    text = value.strip()
    if not text or len(text) > URL_LENGTH:
        raise Invalid(f"The URL must be 1 to {URL_LENGTH} characters.", field=field)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise Invalid("The URL must not contain spaces or control characters.", field=field)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises here
        httpx.URL(text)
    except (ValueError, httpx.InvalidURL) as exc:
        raise Invalid(f"'{text}' is not a URL: {exc}", field=field) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise Invalid("The URL must start with http:// or https://.", field=field)
    if not parts.hostname:
        raise Invalid("The URL must name a host.", field=field)
    if parts.username is not None or parts.password is not None:
        raise Invalid(
            "The URL must not hold a user name or password: the secret signs each delivery.",
            field=field,
        )
    return text


def checked_events(names: list[str], *, field: str = "events") -> list[str]:
    unknown = [name for name in names if name not in EVENTS]
    if unknown:
        raise Invalid(f"No event '{unknown[0]}'; choose from: {', '.join(EVENTS)}.", field=field)
    return sorted(set(names))


def checked_secret(secret: str, *, field: str = "secret") -> str:
    if not signing.SECRET_MIN <= len(secret) <= signing.SECRET_MAX:
        raise Invalid(
            f"The secret must be {signing.SECRET_MIN} to {signing.SECRET_MAX} characters.",
            field=field,
        )
    if not secret.isprintable() or secret != secret.strip():
        raise Invalid("The secret must be printable, without spaces at either end.", field=field)
    return secret


def _view(hook: Webhook, secret: str | None = None) -> WebhookView:
    return WebhookView(
        id=hook.id,
        url=hook.url,
        events=list(hook.events),
        enabled=hook.enabled,
        description=hook.description,
        secret_set=bool(hook.secret),
        secret_hint=signing.hint(hook.secret),
        created_by=hook.created_by,
        created_at=hook.created_at,
        secret=secret,
    )


def load(db: DBSession, actor: Actor, project: str, webhook_id: int) -> tuple[Project, Webhook]:
    """Project ``project`` and its webhook ``webhook_id``, for one who may configure it."""
    proj = load_project(db, actor, project, Action.CONFIGURE)
    hook = db.get(Webhook, webhook_id)
    if hook is None or hook.project_id != proj.id:
        raise NotFound(f"Project '{project}' has no webhook {webhook_id}.", field="webhook_id")
    return proj, hook


def add(ctx: Context, actor: Actor, project: str, data: WebhookCreate) -> WebhookView:
    """Set up a webhook; a secret made here is in the answer, and never shown again."""
    url = checked_url(data.url)
    events = checked_events(data.events)
    made = signing.new_secret() if data.secret is None else None
    secret = made or checked_secret(data.secret or "")
    with ctx.db.write() as db:
        proj = load_project(db, actor, project, Action.CONFIGURE)
        hook = Webhook(
            project_id=proj.id,
            url=url,
            secret=secret,
            events=events,
            enabled=data.enabled,
            description=data.description.strip(),
            created_by=actor.login[:64],
        )
        db.add(hook)
        db.flush()
        audit.record(
            db, actor, AuditAction.WEBHOOK_ADDED, project=project, target=url, webhook=hook.id
        )
        return _view(hook, made)


def list_webhooks(ctx: Context, actor: Actor, project: str) -> list[WebhookView]:
    with ctx.db.read() as db:
        proj = load_project(db, actor, project, Action.CONFIGURE)
        rows = db.scalars(select(Webhook).where(Webhook.project_id == proj.id).order_by(Webhook.id))
        return [_view(hook) for hook in rows]


def get(ctx: Context, actor: Actor, project: str, webhook_id: int) -> WebhookView:
    with ctx.db.read() as db:
        return _view(load(db, actor, project, webhook_id)[1])


def change(
    ctx: Context, actor: Actor, project: str, webhook_id: int, data: WebhookChange
) -> WebhookView:
    """Change what is given; deliveries still waiting go to the new URL."""
    url = checked_url(data.url) if data.url is not None else None
    events = checked_events(data.events) if data.events is not None else None
    secret = checked_secret(data.secret) if data.secret is not None else None
    made = signing.new_secret() if data.new_secret and secret is None else None
    with ctx.db.write() as db:
        _, hook = load(db, actor, project, webhook_id)
        changed = _apply(hook, url, events, data, made or secret)
        if url is not None:
            _retarget(db, hook)
        db.flush()
        if changed:
            audit.record(
                db,
                actor,
                AuditAction.WEBHOOK_CHANGED,
                project=project,
                target=hook.url,
                webhook=hook.id,
                fields=changed,
            )
        return _view(hook, made)


def _apply(
    hook: Webhook,
    url: str | None,
    events: list[str] | None,
    data: WebhookChange,
    secret: str | None,
) -> list[str]:
    """Set the values given on ``hook``; the names of those that changed."""
    wanted: dict[str, Any] = {
        "url": url,
        "events": events,
        "enabled": data.enabled,
        "description": data.description.strip() if data.description is not None else None,
        "secret": secret,
    }
    changed = []
    for name, value in wanted.items():
        if value is not None and getattr(hook, name) != value:
            setattr(hook, name, value)
            changed.append(name)
    return changed


def _retarget(db: DBSession, hook: Webhook) -> None:
    waiting = db.scalars(
        select(OutboxMessage).where(
            OutboxMessage.webhook_id == hook.id,
            OutboxMessage.status == Delivery.PENDING.value,
        )
    )
    for row in waiting:
        row.target = hook.url


def remove(ctx: Context, actor: Actor, project: str, webhook_id: int) -> None:
    """Remove a webhook; its deliveries stay in the log, and those still waiting fail."""
    with ctx.db.write() as db:
        _, hook = load(db, actor, project, webhook_id)
        url = hook.url
        db.delete(hook)
        db.flush()
        audit.record(
            db, actor, AuditAction.WEBHOOK_REMOVED, project=project, target=url, webhook=webhook_id
        )


# -- deliveries ---------------------------------------------------------------------------


def created(when: dt.datetime) -> str:
    """ISO 8601 in UTC, to the millisecond: 2026-12-06T03:24:08.123Z."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body_of(public_url: str | None, record: EventRecord) -> str:
    """The JSON a receiver gets for ``record``: sorted keys, compact, UTF-8."""
    payload = dict(record.payload)
    links: dict[str, str] = {}
    if (
        public_url
        and record.kind == "SessionArchived"
        and record.project
        and payload.get("session")
    ):
        links["session"] = Links(public_url).session(record.project, str(payload["session"]))
    body = {
        "id": record.id,
        "event": record.kind,
        "created_at": created(record.created_at),
        "project": record.project,
        "data": payload,
        "links": links,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def enqueue(db: DBSession, record: EventRecord, *, public_url: str | None = None) -> int:
    """Add a delivery of ``record`` for each of its project's webhooks that wants it, in
    the caller's transaction; returns how many. Events of no project go nowhere. Links
    start with ``public_url`` (the site's, ``settings.public_url``); without it, none."""
    if record.project is None:
        return 0
    hooks = list(
        db.scalars(
            select(Webhook)
            .join(Project, Project.id == Webhook.project_id)
            .where(Project.label == record.project, Webhook.enabled.is_(True))
            .order_by(Webhook.id)
        )
    )
    wanted = [hook for hook in hooks if not hook.events or record.kind in hook.events]
    if not wanted:
        return 0
    body = body_of(public_url, record)
    topic = _TOPICS.get(record.kind, Topic.PROCESS).value
    for hook in wanted:
        outbox.add_delivery(db, hook, body, event=record.kind, topic=topic)
    return len(wanted)


def deliver(ctx: Context, row: OutboxMessage) -> Attempt:
    """POST one delivery, signed; how it went."""
    with ctx.db.read() as db:
        hook = db.get(Webhook, row.webhook_id) if row.webhook_id is not None else None
        found = (hook.url, hook.secret, hook.enabled) if hook is not None else None
    if found is None:
        return Attempt(ok=False, error="webhook removed", permanent=True)
    url, secret, enabled = found
    if not enabled:
        return Attempt(ok=False, error="webhook disabled", permanent=True)
    body = row.body.encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"scandepot/{__version__}",
        "X-Scandepot-Event": row.subject,
        "X-Scandepot-Delivery": row.message_key,
        "X-Scandepot-Signature": signing.signature(secret, body),
    }
    return post(url, body, headers, timeout_s=ctx.settings.webhook_timeout_s)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout_s: float) -> Attempt:
    """One POST: 2xx is done; 408, 429, 5xx, timeouts and connection errors are tried
    again; other answers are refusals. Redirects are not followed; TLS is verified."""
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False) as client,
            client.stream("POST", url, content=body, headers=headers) as answer,
        ):
            status = answer.status_code
            start = "" if 200 <= status < 300 else _start(answer, time.monotonic() + timeout_s)
    except httpx.TimeoutException as exc:
        return Attempt(ok=False, error=f"no answer within {timeout_s:g} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Attempt(ok=False, error=f"could not deliver: {type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return Attempt(ok=True, code=status)
    temporary = status in (408, 429) or status >= 500
    error = f"HTTP {status}: {start}" if start else f"HTTP {status}"
    return Attempt(ok=False, code=status, error=error, permanent=not temporary)


def _start(answer: httpx.Response, deadline: float) -> str:
    """The start of an answer's body, on one line: what came by ``deadline``. The status
    decides what happens next; the text is only for the log."""
    taken = b""
    try:
        for chunk in answer.iter_bytes():
            taken += chunk
            if len(taken) >= ANSWER_SHOWN * 4 or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass
    text = " ".join(taken.decode("utf-8", "replace").split())
    return text[:ANSWER_SHOWN]
