"""Each kind of message, end to end: an upload archived (or stopped, or left waiting) in
the catalog, the sender's pass, and what a real SMTP server received, read as a mail
client reads it; its link opened with the reader's own credentials. And a webhook that
hangs while emails are due: the emails go."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.notify import OutboxMessage
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.notify import sender, subscriptions, webhooks
from scandepot.notify.subscriptions import RecipientCreate
from scandepot.notify.webhooks import WebhookCreate
from tests.conftest import PASSWORD
from tests.notify.helpers import use
from tests.notify.mailserver import MailServer, Received
from tests.notify.webhook_receiver import HANG, Receiver
from tests.notify.world import build, choose, upload


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    return make_project("private", label="PILOT", upload_destination="archive")


@pytest.fixture
def tls_mail(tmp_path: Path) -> MailServer:
    server = MailServer(tmp_path, mode="starttls", auth=True).start()
    yield server  # type: ignore[misc]
    server.stop()


def to(received: list[Received], address: str) -> EmailMessage:
    [found] = [r.message for r in received if address in r.recipients]
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def links(ctx: Context, text: str) -> list[str]:
    """The paths of the site's own links in ``text``."""
    base = re.escape(ctx.settings.public_url.rstrip("/"))
    return re.findall(base + r"(/[^\s<>\"]+)", text)


def keys(ctx: Context) -> set[str]:
    with ctx.db.read() as db:
        return set(db.scalars(select(OutboxMessage.message_key)))


def test_archived_and_process_messages_arrive_over_starttls_with_links_that_open(
    ctx: Context, pilot: str, tls_mail: MailServer, client: TestClient
) -> None:
    use(ctx, tls_mail)
    subscriptions.add_recipient(ctx, SYSTEM, pilot, RecipientCreate(address="lab@example.org"))
    choose(ctx, "owner", "process", True, pilot)
    upload(ctx, pilot, "S1", "E1", by="member")
    build(ctx)
    done = sender.run_once(ctx)
    assert done.sent >= 3, done
    received = tls_mail.wait_for(3)
    assert {a for r in received for a in r.recipients} == {
        "lab@example.org",
        "member@example.org",
        "owner@example.org",
    }
    lab = to(received, "lab@example.org")
    assert lab["From"] == ctx.settings.mail_from and lab["To"] == "lab@example.org"
    assert "E1" in lab["Subject"] and "archived" in lab["Subject"].lower()
    assert lab["Date"] and lab["Auto-Submitted"] == "auto-generated"
    assert {r.message["Message-ID"] for r in received} <= keys(ctx)
    body = text_of(lab)
    assert "S1" in body and "E1" in body and "T1w" in body
    [page] = [p for p in links(ctx, body) if "E1" in p or "experiments" in p or "sessions" in p]
    assert page in html_of(lab)
    assert client.get(page, auth=("member", PASSWORD)).status_code == 200
    assert client.get(page, auth=("outsider", PASSWORD)).status_code == 404
    process = text_of(to(received, "owner@example.org"))
    assert "received" in process.lower() and "built" in process.lower()


def test_a_conflict_asks_the_owner_with_a_link_to_the_staged_session(
    ctx: Context, pilot: str, mail_server: MailServer, client: TestClient
) -> None:
    use(ctx, mail_server)
    upload(ctx, pilot, "S1", "E1", by="member")
    build(ctx)
    upload(ctx, pilot, "S1", "E1", by="member")  # another study under the same labels
    build(ctx)
    sender.run_once(ctx)
    received = mail_server.wait_for(2)
    owner = to(received, "owner@example.org")
    assert "attention" in owner["Subject"].lower()
    body = text_of(owner)
    assert "Invalid modification of session UID" in body or "CONFLICT" in body
    with ctx.db.read() as db:
        staged = db.scalar(select(StagedSession.id))
    [page] = [p for p in links(ctx, body) if "prearchive" in p]
    assert str(staged) in page
    assert client.get(page, auth=("owner", PASSWORD)).status_code == 200


def test_a_session_left_waiting_is_told_to_the_administrators_once(
    ctx: Context, make_project: Callable[..., str], mail_server: MailServer
) -> None:
    use(ctx, mail_server)
    project = make_project("private", label="HELD", upload_destination="prearchive")
    upload(ctx, project, "S1", "E1", by="member")
    build(ctx)
    later = utcnow() + dt.timedelta(minutes=ctx.settings.notify_stuck_after_min + 1)
    sender.run_once(ctx, now=later)
    sender.run_once(ctx, now=later + dt.timedelta(minutes=5))
    received = mail_server.wait_for(1)
    stuck = [r for r in received if "admin@example.org" in r.recipients]
    assert len(stuck) == 1
    assert "stuck" in stuck[0].message["Subject"].lower()
    assert "HELD" in text_of(stuck[0].message)


def test_a_hanging_webhook_does_not_hold_up_the_emails(
    ctx: Context, pilot: str, mail_server: MailServer, hook_receiver: Receiver
) -> None:
    use(ctx, mail_server, webhook_timeout_s=2.0)
    subscriptions.add_recipient(ctx, SYSTEM, pilot, RecipientCreate(address="lab@example.org"))
    webhooks.add(ctx, SYSTEM, pilot, WebhookCreate(url=hook_receiver.url + "/hook"))
    hook_receiver.answers.extend([HANG] * 10)
    upload(ctx, pilot, "S1", "E1", by="member")
    build(ctx)
    start = time.monotonic()
    done = sender.run_once(ctx)
    elapsed = time.monotonic() - start
    assert {a for r in mail_server.received for a in r.recipients} >= {"lab@example.org"}
    assert done.sent >= 2 and done.retried >= 1, done
    assert elapsed < 2.0 * 3, elapsed  # the hung deliveries gave up at their timeout
