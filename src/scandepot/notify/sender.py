"""The background sender: one pass turns new journal events into notices and webhook
deliveries, notices that have waited long enough into messages, finds what is stuck, and
sends what is due. Runs in a process of its own started by ``scandepot serve`` and by
each ``scandepot worker``; several senders share the work safely (rows are claimed,
never held by two).

Sending: the due rows are claimed with a lease long enough to send them (one
transaction), then sent on a few threads, emails a handful per connection and each
webhook delivery on its own, so a slow mail server or a hanging webhook URL holds up only
its own thread; how each went is recorded in one transaction at the end of the pass. An
attempt that came back too late to be sure its row's lease still held is not recorded:
another pass sends that row again once the lease is over, with the same Message-ID or
delivery ID.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from scandepot.catalog.notify import Channel, Delivery, OutboxMessage
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.notify import compose, dispatch, outbox, smtp, stuck, webhooks
from scandepot.notify.outbox import Attempt
from scandepot.settings import Settings

log = logging.getLogger("scandepot.notify")
T = TypeVar("T")

THREADS = 4  # rows sent at once
PER_CONNECTION = 5  # emails sent over one connection to the mail server
PER_PASS = THREADS * PER_CONNECTION  # rows claimed by one pass
# Round trips with the mail server: to connect (TCP, EHLO, STARTTLS, EHLO, AUTH and a
# margin), and for each message (MAIL, RCPT, DATA, the body and its reply).
CONNECT_STEPS, MESSAGE_STEPS = 8, 5
# How much lower the sender's scheduling priority is than its starter's (nice): what it
# does can wait a moment, while the receiver and the web server beside it answer senders
# and people. It matters most at start, when its imports (a second of a core and more)
# would otherwise take that core from a receiver already taking associations.
NICER = 10


@dataclass
class Pass:
    """What one pass did, for the log and the tests."""

    events: int = 0  # journal events dispatched
    messages: int = 0  # emails composed from notices
    alerts: int = 0  # stuck cases found
    sent: int = 0
    retried: int = 0
    refused: int = 0
    failed: int = 0

    def count(self, row: OutboxMessage | None) -> None:
        if row is None:
            return
        if row.status == Delivery.SENT.value:
            self.sent += 1
        elif row.status == Delivery.REFUSED.value:
            self.refused += 1
        elif row.status == Delivery.FAILED.value:
            self.failed += 1
        else:
            self.retried += 1


def run_once(ctx: Context, *, now: dt.datetime | None = None, echo: bool = False) -> Pass:
    """One pass. ``now`` is the time the rules go by (the real time when not given);
    ``echo``: also C-ECHO this process's own DICOM receiver (``scandepot serve``)."""
    at = now or utcnow()
    done = Pass()
    done.events = _guarded("dispatching events", lambda: dispatch.run(ctx, now=at), 0)
    done.messages = _guarded("composing messages", lambda: compose.run(ctx, now=at), 0)
    done.alerts = _guarded("looking for stuck cases", lambda: stuck.run(ctx, now=at, echo=echo), 0)
    _guarded("sending", lambda: send_due(ctx, done, now=now), None)
    return done


def _guarded(what: str, step: Callable[[], T], otherwise: T) -> T:
    try:
        return step()
    except Exception:  # noqa: BLE001 - one step failing must not stop the others
        log.exception("notifications: %s failed", what)
        return otherwise


def lease_s(ctx: Context) -> float:
    """How long one pass holds what it claims: long enough to send it all."""
    s = ctx.settings
    email = s.smtp_timeout_s * (CONNECT_STEPS + MESSAGE_STEPS * PER_CONNECTION)
    return max(email, s.webhook_timeout_s * PER_CONNECTION)


def send_due(ctx: Context, done: Pass, *, now: dt.datetime | None = None) -> None:
    """Claim the rows that are due and send them, recording each attempt."""
    lease = lease_s(ctx)
    ids = outbox.claim_due(ctx, limit=PER_PASS, lease_s=lease, now=now)
    if not ids:
        return
    rows = outbox.load(ctx, ids)
    emails = [r for r in rows if r.channel == Channel.EMAIL.value]
    hooks = [r for r in rows if r.channel != Channel.EMAIL.value]
    # Past this, a row might still be in flight when its lease runs out: leave it.
    worst = max(ctx.settings.smtp_timeout_s * MESSAGE_STEPS, ctx.settings.webhook_timeout_s)
    until = time.monotonic() + lease - worst
    results: list[tuple[OutboxMessage, Attempt]] = []
    lock = threading.Lock()

    def kept(attempts: Iterable[tuple[OutboxMessage, Attempt]]) -> None:
        for found in attempts:
            if time.monotonic() > until:  # its lease may be over: a later pass sends it
                return
            with lock:
                results.append(found)

    def emails_of(chunk: list[OutboxMessage]) -> Callable[[], None]:
        return lambda: kept(smtp.deliver_each(ctx, chunk))

    def hook_of(row: OutboxMessage) -> Callable[[], None]:
        return lambda: kept(_posted(ctx, row))

    tasks = [
        emails_of(emails[i : i + PER_CONNECTION]) for i in range(0, len(emails), PER_CONNECTION)
    ]
    tasks += [hook_of(row) for row in hooks]
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="notify-send") as pool:
        for future in [pool.submit(_guarded, "sending", task, None) for task in tasks]:
            future.result()
    # One transaction for the pass: the catalog's writer is the archive's too. A process
    # stopped before it leaves these to their leases; they go again, with the same
    # Message-ID or delivery ID. What came back after the deadline is not recorded.
    attempts = [(row.id, attempt) for row, attempt in results]
    for saved in outbox.record_all(ctx, attempts, now=now):
        done.count(saved)


def _posted(ctx: Context, row: OutboxMessage) -> Iterator[tuple[OutboxMessage, Attempt]]:
    yield row, webhooks.deliver(ctx, row)


class Sender:
    """Runs passes every ``notify_poll_s`` in a process of its own, with its own catalog
    connections, and at once again while a pass found a full load. A process, not a
    thread: composing, TLS and HTTP take the interpreter's time, and in a thread of the
    server they would take it from the archive and the receiver; a process leaves them a
    core. ``echo``: also C-ECHO the DICOM receiver of the process that starts it
    (``scandepot serve`` runs one). The process ends when :meth:`stop` is called or the
    process that started it is gone."""

    def __init__(self, ctx: Context, *, echo: bool = False) -> None:
        spawn = multiprocessing.get_context("spawn")  # the starter has threads and sockets
        # Told to stop by the end of a pipe, as the DICOM receiver's processes are: closing
        # our end never waits. A multiprocessing Event would: its set() waits for every
        # process sleeping in wait() to wake, and one killed while it slept (a SIGTERM to
        # the whole process group, as systemd and pkill send) never does.
        self._theirs, self._ours = spawn.Pipe(duplex=False)
        self._process = spawn.Process(
            target=_run,
            args=(ctx.settings, echo, self._theirs, os.getpid()),
            name="scandepot-notify",
            daemon=True,
        )

    def start(self) -> Sender:
        self._process.start()
        self._theirs.close()  # the sender holds its own copy
        pid = self._process.pid
        if pid is not None:  # before its imports are done: threads it starts inherit it
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) + NICER)
        return self

    def stop(self) -> None:
        self._ours.close()  # the sender reads the end of the pipe and stops
        self._process.join(timeout=30)
        if self._process.is_alive():  # stuck in a send past every timeout
            self._process.terminate()
            self._process.join(timeout=5)


def _run(settings: Settings, echo: bool, stop: Any, parent: int) -> None:
    """The sender process: passes until told to stop or its parent is gone."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    ctx = Context.from_settings(settings)
    try:
        while os.getppid() == parent:
            try:
                done = run_once(ctx, echo=echo)
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("notification pass failed")
                done = Pass()
            full = done.sent + done.retried + done.refused + done.failed >= PER_PASS
            if stop.poll(0 if full else settings.notify_poll_s):
                return  # the starter closed its end: told to stop
    finally:
        ctx.close()
