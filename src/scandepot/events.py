"""Events, published in one place; pipelines, notifications and the audit log subscribe.

Handlers run in the publisher's thread after the change they describe is committed, so a
handler never sees an event for something that did not happen. They must be quick (queue
work, do not do it) and must not raise: a failing handler is logged and the others run.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

log = logging.getLogger("scandepot.events")

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class SessionArchived:
    """A session was created in, or merged into, the archive."""

    project: str
    subject: str
    session: str
    session_id: str  # the site-wide ID (SD_E00001): stable across relabels
    scans: tuple[str, ...]  # the scan IDs added or replaced
    merged: bool = False


@dataclass(frozen=True, slots=True)
class SessionNeedsAttention:
    """A staged session could not be archived on its own: a conflict, an error, no route."""

    staged_id: int
    project: str | None
    StudyInstanceUID: str  # (0020,000D)
    status: str
    reason: str


@dataclass(frozen=True, slots=True)
class JobQueued:
    """A pipeline job was recorded as queued; executors that feed workers send it on."""

    job_id: int
    pipeline: str
    project: str


@dataclass(frozen=True, slots=True)
class JobFinished:
    job_id: int
    pipeline: str
    project: str
    status: str  # succeeded, failed, cancelled
    target: str


@dataclass
class EventBus:
    _handlers: dict[type, list[Callable[[Any], None]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers[kind].append(handler)

    def publish(self, event: object) -> None:
        for handler in list(self._handlers.get(type(event), ())):
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - one bad subscriber must not stop the rest
                log.exception("event handler %r failed for %r", handler, event)


class OnItsOwnThread:
    """A subscriber that does its work on a thread of its own per event, so that the
    publisher does not wait for it; :meth:`wait` lets a caller (a test, a shutdown) wait
    for the work under way. Subclasses write :meth:`work`, which must not raise."""

    name = "subscriber"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[threading.Thread] = set()

    def start(self, event: object) -> None:
        thread = threading.Thread(target=self._run, args=(event,), name=self.name, daemon=True)
        with self._lock:
            self._running.add(thread)
        thread.start()

    def wait(self, timeout: float = 60.0) -> None:
        with self._lock:
            running = list(self._running)
        for thread in running:
            thread.join(timeout)

    def work(self, event: Any) -> None:
        raise NotImplementedError

    def _run(self, event: object) -> None:
        try:
            self.work(event)
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())
