"""The outbox with a real mail server: retries after a back-off (the time moved on, never
slept), refusals kept for the administrators, a server down for a while, and a sender
that stopped between sending and recording."""

from __future__ import annotations

import datetime as dt

from scandepot.catalog.notify import Delivery
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.notify import outbox, smtp
from scandepot.notify.sender import Pass, run_once
from tests.notify.helpers import queue, row, use
from tests.notify.mailserver import HANG_UP, MailServer


def later(t: dt.datetime, seconds: float) -> dt.datetime:
    return t + dt.timedelta(seconds=seconds)


def test_a_4xx_is_tried_again_after_the_back_off(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    mail_server.handler.answers.append("451 4.3.0 try later")
    [rid] = queue(ctx, "alice@example.org")
    t0 = utcnow()
    assert run_once(ctx, now=t0) == Pass(retried=1)
    waiting = row(ctx, rid)
    assert (waiting.status, waiting.attempts, waiting.last_code) == ("pending", 1, 451)
    assert "451 4.3.0 try later" in waiting.last_error
    assert waiting.next_attempt_at == later(t0, outbox.backoff(1).total_seconds())
    assert run_once(ctx, now=later(t0, 10)) == Pass()  # not due yet
    assert run_once(ctx, now=later(t0, 31)) == Pass(sent=1)
    assert run_once(ctx, now=later(t0, 3600)) == Pass()
    [got] = mail_server.wait_for(1)
    done = row(ctx, rid)
    assert got.message["Message-ID"] == done.message_key
    assert (done.status, done.attempts, done.last_code, done.last_error) == ("sent", 2, 250, "")


def test_a_refused_address_is_not_tried_again(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    mail_server.handler.refuse_rcpt["gone@example.org"] = "550 5.1.1 no such user"
    ids = queue(ctx, "a@example.org", "gone@example.org", "b@example.org")
    t0 = utcnow()
    assert run_once(ctx, now=t0) == Pass(sent=2, refused=1)
    assert run_once(ctx, now=later(t0, 7200)) == Pass()
    refused = row(ctx, ids[1])
    assert (refused.status, refused.attempts, refused.last_code) == ("refused", 1, 550)
    assert "gone@example.org: 550 5.1.1 no such user" in refused.last_error
    assert sorted(r.recipients[0] for r in mail_server.wait_for(2)) == [
        "a@example.org",
        "b@example.org",
    ]


def test_closed_mid_message_then_sent(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    mail_server.handler.answers.append(HANG_UP)
    [rid] = queue(ctx, "alice@example.org")
    t0 = utcnow()
    assert run_once(ctx, now=t0) == Pass(retried=1)
    assert "closed the connection" in row(ctx, rid).last_error
    assert run_once(ctx, now=later(t0, 31)) == Pass(sent=1)
    assert len(mail_server.wait_for(1)) == 1


def test_given_up_after_the_last_attempt(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server, notify_max_attempts=2)
    mail_server.stop()
    [rid] = queue(ctx, "alice@example.org")
    t0 = utcnow()
    assert run_once(ctx, now=t0) == Pass(retried=1)
    assert run_once(ctx, now=later(t0, 31)) == Pass(failed=1)
    assert run_once(ctx, now=later(t0, 86400)) == Pass()
    failed = row(ctx, rid)
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert "connection refused" in failed.last_error


def test_a_server_down_for_a_while(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    ids = queue(ctx, "a@example.org", "b@example.org", "c@example.org")
    keys = {row(ctx, i).message_key for i in ids}
    mail_server.stop()
    t0 = utcnow()
    assert run_once(ctx, now=t0) == Pass(retried=3)
    assert run_once(ctx, now=later(t0, 31)) == Pass(retried=3)
    mail_server.start()
    assert run_once(ctx, now=later(t0, 60)) == Pass()  # the back-off is 60 s now
    assert run_once(ctx, now=later(t0, 92)) == Pass(sent=3)
    assert run_once(ctx, now=later(t0, 86400)) == Pass()
    got = mail_server.wait_for(3)
    assert sorted(r.message["Message-ID"] for r in got) == sorted(keys)
    assert [row(ctx, i).status for i in ids] == [Delivery.SENT.value] * 3


def test_sent_then_stopped_before_recording(ctx: Context, mail_server: MailServer) -> None:
    """What a sender killed after sending leaves: rows leased, not recorded. Once the lease
    is over they go again, with the Message-ID they had."""
    use(ctx, mail_server)
    ids = queue(ctx, "a@example.org", "b@example.org")
    t0 = utcnow()
    assert outbox.claim_due(ctx, limit=10, lease_s=300, now=t0) == ids
    for sent in outbox.load(ctx, ids):
        assert smtp.deliver(ctx, sent).ok
    assert run_once(ctx, now=later(t0, 200)) == Pass()  # still leased
    assert run_once(ctx, now=later(t0, 301)) == Pass(sent=2)
    got = mail_server.wait_for(4)
    first, again = got[:2], got[2:]
    assert [r.message["Message-ID"] for r in first] == [r.message["Message-ID"] for r in again]
    assert [row(ctx, i).attempts for i in ids] == [1, 1]
