"""The background sender: one pass turns new journal events into notices and webhook
deliveries, notices that have waited long enough into messages, finds what is stuck, and
sends what is due. Runs in ``scandepot serve`` and in each ``scandepot worker``; several
senders share the work safely (rows are claimed, never held by two)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

from scandepot.context import Context
from scandepot.db.base import utcnow

log = logging.getLogger("scandepot.notify")


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


def run_once(ctx: Context, *, now: dt.datetime | None = None) -> Pass:
    """One pass of the sender (filled in by the notification issue's parts)."""
    del now
    return Pass()


class Sender:
    """Runs :func:`run_once` every ``notify_poll_s`` on a thread of its own."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="notify-sender", daemon=True)

    def start(self) -> Sender:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.ctx.settings.notify_poll_s):
            try:
                run_once(self.ctx, now=utcnow())
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("notification pass failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
