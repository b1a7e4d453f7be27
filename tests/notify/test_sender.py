"""The sender: passes side by side share the work, the background thread sends what is
due, and without a mail server messages go to the log."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from scandepot.catalog.notify import Delivery
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.notify import smtp
from scandepot.notify.sender import PER_PASS, Pass, Sender, run_once
from tests.notify.helpers import queue, row, use
from tests.notify.mailserver import MailServer


def test_two_senders_at_once_send_each_message_once(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    ids = queue(ctx, *(f"user{i}@example.org" for i in range(PER_PASS)))
    now = utcnow()
    start = threading.Barrier(2)
    passes: list[Pass] = []

    def one_pass() -> None:
        start.wait()
        passes.append(run_once(ctx, now=now))

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(p.sent for p in passes) == PER_PASS
    assert run_once(ctx, now=now) == Pass()
    got = mail_server.wait_for(PER_PASS)
    keys = [r.message["Message-ID"] for r in got]
    assert len(set(keys)) == PER_PASS
    assert sorted(keys) == sorted(row(ctx, i).message_key for i in ids)


def test_more_than_one_pass_takes(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server)
    queue(ctx, *(f"user{i}@example.org" for i in range(PER_PASS + 3)))
    now = utcnow()
    assert run_once(ctx, now=now) == Pass(sent=PER_PASS)
    assert run_once(ctx, now=now) == Pass(sent=3)
    assert len(mail_server.wait_for(PER_PASS + 3)) == PER_PASS + 3


def test_the_sender_thread(ctx: Context, mail_server: MailServer) -> None:
    use(ctx, mail_server, notify_poll_s=0.05)
    sender = Sender(ctx).start()
    try:
        ids = queue(ctx, "a@example.org", "b@example.org")
        assert len(mail_server.wait_for(2)) == 2
    finally:
        sender.stop()
    assert [row(ctx, i).status for i in ids] == [Delivery.SENT.value] * 2


@pytest.mark.parametrize("backend", ["sqlite"])
def test_stop_returns_when_the_sender_was_killed_in_its_sleep(ctx: Context) -> None:
    """A SIGTERM to the whole process group (systemd, pkill) reaches the sender while it
    waits for its next pass; stopping the server afterwards must not wait for it."""
    use(ctx, None, notify_poll_s=60)
    [rid] = queue(ctx, "a@example.org")
    sender = Sender(ctx).start()
    pid = sender._process.pid
    assert pid is not None
    deadline = time.monotonic() + 60
    while row(ctx, rid).status != Delivery.SENT.value:  # its first pass is done: it sleeps
        assert time.monotonic() < deadline, "the sender made no pass"
        time.sleep(0.05)
    os.kill(pid, signal.SIGTERM)
    sender._process.join(timeout=10)
    stopping = threading.Thread(target=sender.stop, daemon=True)
    began = time.monotonic()
    stopping.start()
    stopping.join(timeout=15)
    assert not stopping.is_alive(), "stop() hangs on a sender killed in its sleep"
    assert time.monotonic() - began < 5


def test_without_a_mail_server_messages_are_logged_as_sent(ctx: Context) -> None:
    use(ctx, None)
    [rid] = queue(ctx, "a@example.org")
    assert run_once(ctx, now=utcnow()) == Pass(sent=1)
    logged = row(ctx, rid)
    assert (logged.status, logged.last_error) == (Delivery.SENT.value, smtp.LOGGED)
