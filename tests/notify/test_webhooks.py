"""Webhooks as a service: setting them up (who may, what input is refused), the secret
never shown back, and which events become deliveries of which webhook."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS, SYSTEM, Actor
from scandepot.access.users import actor_for
from scandepot.catalog import journal
from scandepot.catalog.access import AuditEvent, User
from scandepot.catalog.notify import OutboxMessage, Webhook
from scandepot.context import Context
from scandepot.errors import Forbidden, Invalid, NotFound, Unauthorized
from scandepot.events import (
    JobFinished,
    ReceiverSilent,
    SessionArchived,
    SessionNeedsAttention,
    SessionReceived,
)
from scandepot.notify import webhook_log, webhooks
from scandepot.notify.webhooks import WebhookChange, WebhookCreate

SECRET = "a-secret-of-twenty-chars"
SITE = "https://archive.example.org/"


def who(users: dict[str, User], name: str) -> Actor:
    return actor_for(users[name])


def test_add_list_change_remove(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project(label="P")
    owner = who(users, "owner")
    made = webhooks.add(ctx, owner, "P", WebhookCreate(url="http://127.0.0.1:9/in"))
    assert made.secret is not None and len(made.secret) >= 40  # made here: shown once
    given = webhooks.add(
        ctx,
        owner,
        "P",
        WebhookCreate(
            url=" https://hooks.example.org/scandepot ",
            secret=SECRET,
            events=["SessionArchived", "JobFinished", "SessionArchived"],
            description="LIMS",
        ),
    )
    assert given.secret is None  # the caller knows it
    listed = webhooks.list_webhooks(ctx, owner, "P")
    assert [(v.id, v.url, v.events, v.enabled) for v in listed] == [
        (made.id, "http://127.0.0.1:9/in", [], True),
        (given.id, "https://hooks.example.org/scandepot", ["JobFinished", "SessionArchived"], True),
    ]
    assert all(v.secret is None and v.secret_set for v in listed)
    assert [v.secret_hint for v in listed] == [made.secret[-4:], SECRET[-4:]]
    assert listed[1].created_by == "owner" and listed[1].description == "LIMS"

    changed = webhooks.change(
        ctx, owner, "P", given.id, WebhookChange(enabled=False, events=[], new_secret=True)
    )
    assert (changed.enabled, changed.events) == (False, [])
    assert changed.secret is not None and changed.secret != SECRET
    with ctx.db.read() as db:
        hook = db.get(Webhook, given.id)
        assert hook is not None and hook.secret == changed.secret
    webhooks.change(ctx, owner, "P", given.id, WebhookChange(secret="another-secret-16ch"))
    assert webhooks.get(ctx, owner, "P", given.id).secret_hint == "16ch"

    webhooks.remove(ctx, owner, "P", made.id)
    assert [v.id for v in webhooks.list_webhooks(ctx, owner, "P")] == [given.id]
    with ctx.db.read() as db:
        actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
        details = [e.detail for e in db.scalars(select(AuditEvent))]
    assert [a for a in actions if a.startswith("webhook.")] == [
        "webhook.added",
        "webhook.added",
        "webhook.changed",
        "webhook.changed",
        "webhook.removed",
    ]
    assert SECRET not in json.dumps(details, default=str)
    assert changed.secret not in json.dumps(details, default=str)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"url": "ftp://example.org/x"}, "url", "http:// or https://"),
        ({"url": "example.org/hook"}, "url", "http:// or https://"),
        ({"url": "http:///nohost"}, "url", "must name a host"),
        ({"url": "https://bob:pw@example.org/x"}, "url", "user name or password"),
        ({"url": "https://bob@example.org/x"}, "url", "user name or password"),
        ({"url": "http://example.org:99999/x"}, "url", "is not a URL"),
        ({"url": "http://exa mple.org/x"}, "url", "spaces"),
        ({"url": "http://example.org/" + "a" * 2048}, "url", "1 to 2048"),
        ({"url": ""}, "url", "1 to 2048"),
        ({"secret": "short"}, "secret", "16 to 256"),
        ({"secret": " sixteen-or-more-chars "}, "secret", "spaces at either end"),
        ({"events": ["SessionArchived", "Nope"]}, "events", "No event 'Nope'"),
        ({"events": ["ReceiverSilent"]}, "events", "No event 'ReceiverSilent'"),
    ],
)
def test_bad_input_is_refused_with_its_field_named(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    fields: dict[str, Any],
    field: str,
    words: str,
) -> None:
    make_project(label="P")
    data = WebhookCreate.model_validate({"url": "http://10.0.0.5:8000/in", **fields})
    with pytest.raises(Invalid) as caught:
        webhooks.add(ctx, who(users, "owner"), "P", data)
    assert caught.value.field == field and words in caught.value.message
    assert webhooks.list_webhooks(ctx, SYSTEM, "P") == []


def test_loopback_and_private_receivers_are_allowed(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project(label="P")
    for url in ("http://localhost:8000/x", "http://[::1]:8000/x", "https://192.168.1.20/x"):
        webhooks.add(ctx, SYSTEM, "P", WebhookCreate(url=url, secret=SECRET))
    assert len(webhooks.list_webhooks(ctx, SYSTEM, "P")) == 3


def test_only_those_who_configure_the_project_see_or_set_webhooks(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project("public", label="P")
    hook = webhooks.add(ctx, SYSTEM, "P", WebhookCreate(url="http://127.0.0.1:9/", secret=SECRET))
    for name in ("outsider", "collaborator", "member"):
        for call in _every_call(ctx, who(users, name), hook.id):
            with pytest.raises(Forbidden):
                call()
    with pytest.raises(Unauthorized):
        webhooks.list_webhooks(ctx, ANONYMOUS, "P")
    assert [v.enabled for v in webhooks.list_webhooks(ctx, who(users, "admin"), "P")] == [True]


def _every_call(ctx: Context, actor: Actor, hook_id: int) -> list[Callable[[], object]]:
    data = WebhookCreate(url="http://127.0.0.1:9/", secret=SECRET)
    return [
        lambda: webhooks.add(ctx, actor, "P", data),
        lambda: webhooks.list_webhooks(ctx, actor, "P"),
        lambda: webhooks.get(ctx, actor, "P", hook_id),
        lambda: webhooks.change(ctx, actor, "P", hook_id, WebhookChange(enabled=False)),
        lambda: webhooks.remove(ctx, actor, "P", hook_id),
        lambda: webhook_log.deliveries(ctx, actor, "P"),
        lambda: webhook_log.redeliver(ctx, actor, "P", 1),
    ]


def test_a_webhook_of_another_project_is_not_found(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project(label="P")
    make_project(label="Q")
    theirs = webhooks.add(ctx, SYSTEM, "Q", WebhookCreate(url="http://127.0.0.1:9/"))
    with pytest.raises(NotFound) as caught:
        webhooks.remove(ctx, who(users, "owner"), "P", theirs.id)
    assert caught.value.field == "webhook_id"
    assert len(webhooks.list_webhooks(ctx, SYSTEM, "Q")) == 1


def _journal(ctx: Context, event: object) -> int:
    """Write ``event`` to the journal and enqueue it, as the dispatcher does; how many."""
    with ctx.db.write() as db:
        record = journal.record(db, event)
        return webhooks.enqueue(db, record, public_url=SITE)


def _deliveries(ctx: Context) -> list[OutboxMessage]:
    with ctx.db.read() as db:
        rows = list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for row in rows:
            db.expunge(row)
    return rows


ARCHIVED = SessionArchived(
    "P", "S1", "E 1/ü", "SD_E00001", ("1", "2"), files=40, uploader="member", source="upload"
)


def test_enqueue_follows_the_project_and_the_events_chosen(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project(label="P")
    make_project(label="Q")
    every = webhooks.add(ctx, SYSTEM, "P", WebhookCreate(url="http://127.0.0.1:9/all"))
    chosen = webhooks.add(
        ctx,
        SYSTEM,
        "P",
        WebhookCreate(url="http://127.0.0.1:9/archived", events=["SessionArchived"]),
    )
    off = webhooks.add(ctx, SYSTEM, "P", WebhookCreate(url="http://127.0.0.1:9/off"))
    webhooks.change(ctx, SYSTEM, "P", off.id, WebhookChange(enabled=False))
    webhooks.add(ctx, SYSTEM, "Q", WebhookCreate(url="http://127.0.0.1:9/q"))

    assert _journal(ctx, ARCHIVED) == 2
    assert _journal(ctx, JobFinished(7, "dcm2niix", "P", "failed", "S1/E1", "exit 1")) == 1
    assert _journal(ctx, SessionReceived(3, None, None, None, "1.2.3", "dicom:A")) == 0
    assert _journal(ctx, ReceiverSilent("SCANDEPOT", "127.0.0.1:11112", "refused")) == 0
    needs = SessionNeedsAttention(4, "P", "1.2.4", "CONFLICT", "a conflict")
    assert _journal(ctx, needs) == 1

    rows = _deliveries(ctx)
    assert [(r.webhook_id, r.subject) for r in rows] == [
        (every.id, "SessionArchived"),
        (chosen.id, "SessionArchived"),
        (every.id, "JobFinished"),
        (every.id, "SessionNeedsAttention"),
    ]
    assert [r.topic for r in rows] == ["archived", "archived", "process", "attention"]
    assert {r.channel for r in rows} == {"webhook"} and {r.status for r in rows} == {"pending"}
    assert rows[0].body == rows[1].body and rows[0].message_key != rows[1].message_key
    assert [r.target for r in rows[:2]] == ["http://127.0.0.1:9/all", "http://127.0.0.1:9/archived"]


def test_the_body_is_compact_sorted_json_with_a_link_to_the_session(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project(label="P")
    webhooks.add(ctx, SYSTEM, "P", WebhookCreate(url="http://127.0.0.1:9/"))
    _journal(ctx, ARCHIVED)
    _journal(ctx, JobFinished(7, "dcm2niix", "P", "succeeded", "S1/E1"))
    archived, finished = (r.body for r in _deliveries(ctx))
    body = json.loads(archived)
    assert archived == json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "ü" in archived  # UTF-8, not escaped
    assert set(body) == {"id", "event", "created_at", "project", "data", "links"}
    assert (body["event"], body["project"]) == ("SessionArchived", "P")
    assert isinstance(body["id"], int)
    assert body["created_at"].endswith("Z") and body["created_at"][10] == "T"
    assert body["data"]["scans"] == ["1", "2"] and body["data"]["files"] == 40
    assert body["links"] == {
        "session": "https://archive.example.org/projects/P/sessions/E%201%2F%C3%BC"
    }
    assert json.loads(finished)["links"] == {}
    assert json.loads(finished)["data"]["status"] == "succeeded"


def test_the_documented_example_is_signed_as_documented() -> None:
    """docs/notifications.md's example body and signature, checked with its own code."""
    import hashlib
    import hmac
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text()
    section = text[text.index("## Webhooks") :]
    body = re.search(r"```json\n(.*?)\n```", section, re.S)
    secret = re.search(r"With the secret `([^`]+)`", section)
    header = re.search(r"signed\s+`(sha256=[0-9a-f]{64})`", section)
    assert body and secret and header
    digest = hmac.new(secret[1].encode(), body[1].encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest("sha256=" + digest, header[1])
    parsed = json.loads(body[1])
    assert body[1] == json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    assert set(parsed) == {"id", "event", "created_at", "project", "data", "links"}
