"""Deliveries to a real HTTP receiver on a loopback port: the body and headers it gets,
the signature checked as the documentation tells receivers to, retries after 500s and a
hanging receiver, refusals, and a webhook removed meanwhile."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from sqlalchemy import select

from scandepot import __version__
from scandepot.access.actors import SYSTEM
from scandepot.catalog import journal
from scandepot.catalog.access import User
from scandepot.catalog.notify import OutboxMessage
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.events import SessionArchived
from scandepot.notify import dispatch, outbox, webhook_log, webhooks
from scandepot.notify.outbox import Attempt
from scandepot.notify.webhooks import WebhookChange, WebhookCreate
from tests.notify.webhook_receiver import HANG, Receiver
from tests.notify.world import build, upload

SECRET = "receiver-secret-0123456789"
EVENT = SessionArchived("P", "S1", "E1", "SD_E00001", ("1",), files=12)


def verify(secret: str, body: bytes, header: str) -> bool:
    """What docs/notifications.md shows receivers (kept the same, word for word)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def setup(ctx: Context, make_project: Callable[..., str], url: str) -> int:
    """Project P with one webhook to ``url``, and one event enqueued for it; its row ID."""
    make_project(label="P")
    webhooks.add(ctx, SYSTEM, "P", WebhookCreate(url=url, secret=SECRET))
    with ctx.db.write() as db:
        webhooks.enqueue(db, journal.record(db, EVENT), public_url="https://a.example.org")
        return int(db.scalars(select(OutboxMessage.id)).one())


def send_due(ctx: Context, now: dt.datetime) -> list[Attempt]:
    """What the sender does with each due delivery: claim, deliver, record (emails are
    left to their lease)."""
    attempts = []
    for row in outbox.load(ctx, outbox.claim_due(ctx, limit=50, lease_s=60, now=now)):
        if row.channel != "webhook":
            continue
        attempt = webhooks.deliver(ctx, row)
        outbox.record(ctx, row.id, attempt, now=now)
        attempts.append(attempt)
    return attempts


def row_of(ctx: Context, row_id: int) -> OutboxMessage:
    rows = outbox.load(ctx, [row_id])
    assert len(rows) == 1
    return rows[0]


def test_a_delivery_is_signed_and_its_headers_name_it(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    row_id = setup(ctx, make_project, hook_receiver.url)
    assert send_due(ctx, utcnow()) == [Attempt(ok=True, code=200)]
    (got,) = hook_receiver.wait_for(1)
    row = row_of(ctx, row_id)
    assert got.method == "POST" and got.path == "/hook"
    assert got.body == row.body.encode("utf-8")
    assert json.loads(got.body)["event"] == "SessionArchived"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == f"scandepot/{__version__}"
    assert got.headers["x-scandepot-event"] == "SessionArchived"
    assert got.headers["x-scandepot-delivery"] == row.message_key
    assert verify(SECRET, got.body, got.headers["x-scandepot-signature"])
    assert not verify("another-secret-0123456", got.body, got.headers["x-scandepot-signature"])
    assert not verify(SECRET, got.body + b" ", got.headers["x-scandepot-signature"])
    assert (row.status, row.attempts, row.last_code) == ("sent", 1, 200)


def test_500s_are_tried_again_with_the_same_body_until_one_is_taken(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    row_id = setup(ctx, make_project, hook_receiver.url)
    hook_receiver.answers.extend([500, 503, 429])
    now = utcnow()
    for status in (500, 503, 429):
        (attempt,) = send_due(ctx, now)
        assert (attempt.ok, attempt.permanent, attempt.code) == (False, False, status)
        assert attempt.error.startswith(f"HTTP {status}: answer {status} from the receiver")
        row = row_of(ctx, row_id)
        assert row.status == "pending" and row.next_attempt_at > now
        assert send_due(ctx, now) == []  # not before the back-off
        now = row.next_attempt_at
    assert send_due(ctx, now) == [Attempt(ok=True, code=200)]
    got = hook_receiver.wait_for(4)
    assert len({(r.body, r.headers["x-scandepot-delivery"]) for r in got}) == 1
    assert all(verify(SECRET, r.body, r.headers["x-scandepot-signature"]) for r in got)
    row = row_of(ctx, row_id)
    assert (row.status, row.attempts, row.last_code, row.last_error) == ("sent", 4, 200, "")


def test_a_receiver_that_hangs_times_out_and_is_tried_again(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    ctx.settings.webhook_timeout_s = 0.5
    row_id = setup(ctx, make_project, hook_receiver.url)
    hook_receiver.answers.append(HANG)
    row = row_of(ctx, row_id)
    started = time.monotonic()
    attempt = webhooks.deliver(ctx, row)
    took = time.monotonic() - started
    assert took < 0.5 + 1.5, took  # the timeout, and not the receiver, ends it
    assert (attempt.ok, attempt.permanent, attempt.code) == (False, False, None)
    assert attempt.error.startswith("no answer within 0.5 s (ReadTimeout)")
    after = outbox.record(ctx, row_id, attempt)
    assert after is not None and after.status == "pending"
    hook_receiver.released.set()
    assert webhooks.deliver(ctx, row) == Attempt(ok=True, code=200)


def test_a_refusal_whose_answer_never_ends_is_still_a_refusal(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    ctx.settings.webhook_timeout_s = 0.5
    row_id = setup(ctx, make_project, hook_receiver.url)
    hook_receiver.answers.append((404, HANG))
    started = time.monotonic()
    attempt = webhooks.deliver(ctx, row_of(ctx, row_id))
    assert time.monotonic() - started < 2 * 0.5 + 1.5
    assert (attempt.ok, attempt.permanent, attempt.code) == (False, True, 404)
    assert attempt.error == "HTTP 404: answer 404 from the receiver"


def test_nobody_listening_is_a_temporary_failure(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    stopped = Receiver()
    url = stopped.url
    stopped.stop()  # bound, then closed: the port refuses connections
    row_id = setup(ctx, make_project, url)
    attempt = webhooks.deliver(ctx, row_of(ctx, row_id))
    assert (attempt.ok, attempt.permanent) == (False, False)
    assert attempt.error.startswith("could not deliver: ConnectError")


def test_4xx_and_redirects_are_refusals_and_are_not_tried_again(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    row_id = setup(ctx, make_project, hook_receiver.url)
    hook_receiver.answers.extend([404, 302])
    row = row_of(ctx, row_id)
    refused = webhooks.deliver(ctx, row)
    assert (refused.ok, refused.permanent, refused.code) == (False, True, 404)
    assert refused.error == "HTTP 404: answer 404 from the receiver"
    moved = webhooks.deliver(ctx, row)
    assert (moved.permanent, moved.code) == (True, 302)  # not followed
    assert len(hook_receiver.wait_for(2)) == 2  # nothing at /elsewhere
    after = outbox.record(ctx, row_id, refused)
    assert after is not None and (after.status, after.last_code) == ("refused", 404)
    assert send_due(ctx, utcnow() + dt.timedelta(days=1)) == []


def test_a_webhook_removed_or_switched_off_meanwhile_is_not_called(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    row_id = setup(ctx, make_project, hook_receiver.url)
    (hook,) = webhooks.list_webhooks(ctx, SYSTEM, "P")
    webhooks.change(ctx, SYSTEM, "P", hook.id, WebhookChange(enabled=False))
    assert webhooks.deliver(ctx, row_of(ctx, row_id)) == Attempt(
        ok=False, error="webhook disabled", permanent=True
    )
    webhooks.remove(ctx, SYSTEM, "P", hook.id)
    (attempt,) = send_due(ctx, utcnow())
    assert attempt == Attempt(ok=False, error="webhook removed", permanent=True)
    assert hook_receiver.requests == []
    (logged,) = webhook_log.deliveries(ctx, SYSTEM, "P")
    assert (logged.status, logged.last_error, logged.webhook_id) == (
        "refused",
        "webhook removed",
        None,
    )


def test_a_changed_url_takes_the_deliveries_still_waiting(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    row_id = setup(ctx, make_project, "http://127.0.0.1:9/old")
    (hook,) = webhooks.list_webhooks(ctx, SYSTEM, "P")
    webhooks.change(ctx, SYSTEM, "P", hook.id, WebhookChange(url=hook_receiver.url))
    assert row_of(ctx, row_id).target == hook_receiver.url
    assert send_due(ctx, utcnow()) == [Attempt(ok=True, code=200)]
    assert len(hook_receiver.wait_for(1)) == 1


def test_the_log_tells_each_delivery_and_one_can_be_sent_again(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    row_id = setup(ctx, make_project, hook_receiver.url)
    hook_receiver.answers.append(500)
    now = utcnow()
    send_due(ctx, now)
    (pending,) = webhook_log.deliveries(ctx, SYSTEM, "P")
    assert (pending.id, pending.event, pending.url, pending.status) == (
        row_id,
        "SessionArchived",
        hook_receiver.url,
        "pending",
    )
    assert (pending.attempts, pending.last_code, pending.next_attempt_at is not None) == (
        1,
        500,
        True,
    )
    assert pending.last_error.startswith("HTTP 500")
    again = webhook_log.redeliver(ctx, SYSTEM, "P", row_id)
    assert again.id != row_id and again.delivery != pending.delivery
    assert again.status == "pending" and again.attempts == 0
    assert send_due(ctx, now + dt.timedelta(hours=1)) == [Attempt(ok=True, code=200)] * 2
    first, second = hook_receiver.wait_for(3)[1:]
    assert first.body == second.body
    assert {first.headers["x-scandepot-delivery"], second.headers["x-scandepot-delivery"]} == {
        pending.delivery,
        again.delivery,
    }
    logged = webhook_log.deliveries(ctx, SYSTEM, "P")
    assert [(d.id, d.status, d.next_attempt_at) for d in logged] == [
        (again.id, "sent", None),
        (row_id, "sent", None),
    ]


def test_a_real_upload_reaches_the_receiver_through_the_dispatcher(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    hook_receiver: Receiver,
) -> None:
    make_project("private", label="P", upload_destination="archive")
    make_project("private", label="Q", upload_destination="archive")
    ctx.settings.public_url = "https://archive.example.org"
    webhooks.add(
        ctx,
        SYSTEM,
        "P",
        WebhookCreate(url=hook_receiver.url, secret=SECRET, events=["SessionArchived"]),
    )
    upload(ctx, "P", "S1", "E1", by="member")
    upload(ctx, "Q", "S1", "E9", by="member")  # another project's: not sent here
    build(ctx)
    assert dispatch.run(ctx, now=utcnow()) >= 4
    now = utcnow()
    assert send_due(ctx, now) == [Attempt(ok=True, code=200)]
    (got,) = hook_receiver.wait_for(1)
    assert verify(SECRET, got.body, got.headers["x-scandepot-signature"])
    body = json.loads(got.body)
    assert (body["event"], body["project"]) == ("SessionArchived", "P")
    assert (body["data"]["subject"], body["data"]["session"]) == ("S1", "E1")
    assert body["data"]["files"] == 4 and body["data"]["uploader"] == "member"
    assert body["links"] == {"session": "https://archive.example.org/projects/P/sessions/E1"}
    assert dispatch.run(ctx, now=now) == 0 and send_due(ctx, now) == []


def test_tls_certificates_are_checked(
    ctx: Context,
    make_project: Callable[..., str],
    users: dict[str, User],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A receiver whose certificate no trusted CA signed is not sent to; with its CA in
    SSL_CERT_FILE (as docs/notifications.md tells sites with a CA of their own) it is."""
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(tls)
    receiver = Receiver(tls).start()
    try:
        row_id = setup(ctx, make_project, receiver.url)
        row = row_of(ctx, row_id)
        refused = webhooks.deliver(ctx, row)
        assert (refused.ok, refused.permanent) == (False, False)
        assert "CERTIFICATE_VERIFY_FAILED" in refused.error
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
        assert webhooks.deliver(ctx, row) == Attempt(ok=True, code=200)
        (got,) = receiver.wait_for(1)
        assert verify(SECRET, got.body, got.headers["x-scandepot-signature"])
    finally:
        receiver.stop()
