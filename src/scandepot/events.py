"""Events, published in one place; pipelines, notifications and the audit log subscribe.

Two ways to hear of one, for two kinds of work:

- :class:`EventBus`: handlers in this process run in the publisher's thread after the
  change they describe is committed, so a handler never sees an event for something that
  did not happen. They must be quick (queue work, do not do it) and must not raise: a
  failing handler is logged and the others run. What they start may be lost with the
  process (a picture cache) or is a job of its own.
- The event journal (``catalog/journal.py``): the publisher writes the event as a row in
  the same transaction as the change, so every process (a Celery worker, another
  receiver) sees it, and nothing that must follow from it (a message, a webhook) is lost
  when a process dies. :data:`JOURNALLED` names the kinds written there; :func:`decode`
  reads one back.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

log = logging.getLogger("scandepot.events")

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class SessionReceived:
    """A study's first instance arrived: a staged session was opened for it, routed to a
    project (and subject and session labels), or unassigned."""

    staged_id: int
    project: str | None  # None: no rule found a project
    subject: str | None
    session: str | None
    StudyInstanceUID: str  # (0020,000D)
    source: str  # who sent it: "dicom:SCANNER1", "upload:alice", "stow:bob"
    rule: str | None = None  # the routing rule that chose the project


@dataclass(frozen=True, slots=True)
class SessionBuilt:
    """A staged session went quiet and was built: its scans planned, its problems found."""

    staged_id: int
    project: str | None
    subject: str | None
    session: str | None
    StudyInstanceUID: str
    status: str  # READY, CONFLICT, ...
    scans: int
    instances: int
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionArchived:
    """A session was created in, or merged into, the archive."""

    project: str
    subject: str
    session: str
    session_id: str  # the site-wide ID (SD_E00001): stable across relabels
    scans: tuple[str, ...]  # the scan IDs added or replaced
    merged: bool = False
    files: int = 0  # files added or replaced
    left_out: tuple[str, ...] = ()  # series filtered out (excluded by the build's plan)
    replaced: int = 0  # archived files replaced by other bytes (overwrite)
    kept: int = 0  # differing incoming files not used (no overwrite)
    resolved: tuple[str, ...] = ()  # the problems the staged session had, now resolved
    by: str = ""  # who archived it (the system for an automatic archive)
    uploader: str | None = None  # the login of the user who sent it, when known
    source: str = ""  # the staged session's source ("dicom:SCANNER1", "upload:alice")


@dataclass(frozen=True, slots=True)
class SessionNeedsAttention:
    """A staged session could not be archived on its own: a conflict, an error, no route."""

    staged_id: int
    project: str | None
    StudyInstanceUID: str  # (0020,000D)
    status: str
    reason: str
    subject: str | None = None
    session: str | None = None
    source: str = ""


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
    message: str = ""


@dataclass(frozen=True, slots=True)
class SessionStuck:
    """A staged session not archived a set time after its last instance (notify/ finds it)."""

    staged_id: int
    project: str | None
    StudyInstanceUID: str
    status: str
    last_received_at: str  # ISO 8601, UTC
    minutes: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReceiverSilent:
    """The DICOM receiver did not answer its own C-ECHO (notify/ finds it)."""

    ae_title: str
    address: str  # host:port
    reason: str


@dataclass(frozen=True, slots=True)
class DatasetChanged:
    """A step in a dataset's life (released, validated, sent back, published, withdrawn, a
    new version, an access request decided): its owners are told (notify/)."""

    dataset: str  # the site-wide ID (SD_D00001)
    name: str
    version: int | None
    action: str  # released, validated, sent_back, published, ...
    by: str  # who did it
    comment: str = ""


# The kinds written to the event journal, by name: what notifications and webhooks hear.
JOURNALLED: dict[str, type] = {
    kind.__name__: kind
    for kind in (
        SessionReceived,
        SessionBuilt,
        SessionArchived,
        SessionNeedsAttention,
        JobFinished,
        SessionStuck,
        ReceiverSilent,
        DatasetChanged,
    )
}


def encode(event: object) -> tuple[str, dict[str, Any]]:
    """An event as the journal keeps it: its kind's name and its fields."""
    kind = type(event).__name__
    if kind not in JOURNALLED:
        raise ValueError(f"{kind} is not an event the journal keeps")
    return kind, {name: _plain(getattr(event, name)) for name in _field_names(type(event))}


def decode(kind: str, payload: dict[str, Any]) -> object:
    """An event read back from the journal; fields it does not know (a later version's)
    are left out, missing ones take their defaults."""
    cls = JOURNALLED[kind]
    known = _field_names(cls)
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in payload.items() if k in known}
    return cls(**values)


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


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
