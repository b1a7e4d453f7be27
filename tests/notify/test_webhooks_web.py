"""Webhooks on the project's Manage tab: add (the secret made is shown once, on its own
page), switch off and on, remove, the delivery log and a delivery sent again."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.catalog import journal
from scandepot.context import Context
from scandepot.events import SessionArchived
from scandepot.notify import webhook_log, webhooks
from scandepot.notify.webhooks import WebhookCreate
from tests.web.test_pages import _signed_in

P = "/projects/P"
MANAGE = P + "?tab=manage"


def test_the_manage_tab_sets_up_webhooks(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project(label="P")
    token = _signed_in(client, "owner")
    page = client.get(MANAGE).text
    assert 'id="webhooks"' in page and "No webhooks." in page and "No deliveries yet." in page

    r = client.post(
        P + "/webhooks",
        data={"url": "http://127.0.0.1:9/in", "events": ["SessionArchived"], "csrf_token": token},
    )
    assert r.status_code == 200 and "not shown again" in r.text
    (hook,) = webhooks.list_webhooks(ctx, SYSTEM, "P")
    with ctx.db.read() as db:
        from scandepot.catalog.notify import Webhook

        row = db.get(Webhook, hook.id)
        assert row is not None
        secret = row.secret
    assert f'value="{secret}"' in r.text
    page = client.get(MANAGE).text
    assert "http://127.0.0.1:9/in" in page and "SessionArchived" in page
    assert secret not in page and f"…{secret[-4:]}" in page

    r = client.post(
        P + "/webhooks",
        data={
            "url": "https://h.example.org/",
            "secret": "given-secret-0123456",
            "csrf_token": token,
        },
    )
    assert "is added" in r.text and "given-secret-0123456" not in r.text  # back on the tab
    r = client.post(P + "/webhooks", data={"url": "ftp://h.example.org/", "csrf_token": token})
    assert r.status_code == 200 and "http:// or https://" in r.text

    r = client.post(f"{P}/webhooks/{hook.id}", data={"csrf_token": token})
    assert "switched off" in r.text
    assert not webhooks.get(ctx, SYSTEM, "P", hook.id).enabled
    r = client.post(f"{P}/webhooks/{hook.id}", data={"enabled": "on", "csrf_token": token})
    assert "switched on" in r.text and webhooks.get(ctx, SYSTEM, "P", hook.id).enabled

    with ctx.db.write() as db:
        event = SessionArchived("P", "S1", "E1", "SD_E00001", ("1",))
        webhooks.enqueue(db, journal.record(db, event), public_url="https://a.example.org")
    page = client.get(MANAGE).text
    assert "pending" in page and "Send again" in page
    (delivery,) = webhook_log.deliveries(ctx, SYSTEM, "P", webhook_id=hook.id)
    r = client.post(f"{P}/webhooks/deliveries/{delivery.id}/redeliver", data={"csrf_token": token})
    assert "is sent again" in r.text
    assert len(webhook_log.deliveries(ctx, SYSTEM, "P", webhook_id=hook.id)) == 2

    r = client.post(f"{P}/webhooks/{hook.id}/remove", data={"csrf_token": token})
    assert "The webhook is removed." in r.text
    assert [v.url for v in webhooks.list_webhooks(ctx, SYSTEM, "P")] == ["https://h.example.org/"]


def test_forms_without_the_csrf_token_and_members_are_refused(
    ctx: Context, client: TestClient, make_project: Callable[..., str]
) -> None:
    make_project(label="P")
    webhooks.add(ctx, SYSTEM, "P", WebhookCreate(url="http://127.0.0.1:9/in"))
    _signed_in(client, "owner")
    r = client.post(P + "/webhooks", data={"url": "http://127.0.0.1:9/x"})
    assert r.status_code == 403
    token = _signed_in(client, "member")
    assert client.get(MANAGE).status_code == 403
    r = client.post(P + "/webhooks", data={"url": "http://127.0.0.1:9/x", "csrf_token": token})
    assert r.status_code == 403
    assert len(webhooks.list_webhooks(ctx, SYSTEM, "P")) == 1
