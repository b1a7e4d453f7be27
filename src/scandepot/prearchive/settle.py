"""Waiting for a staged session that a builder holds: the one way to wait for it.

A builder claims a quiet session (status BUILDING) before it builds it, and may archive
it right after; whoever else needs the session (an upload applying its labels and
building what it sent) waits until it is let go. A builder in this process says so when
it lets a session go, which wakes the waiters at once; one in another process is seen by
looking again every :data:`LOOK_AGAIN_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.context import Context
from scandepot.errors import Conflict

BUSY = frozenset({Status.BUILDING, Status.ARCHIVING})  # held by a builder or an archive
WAIT_S = 60.0  # how long a caller waits, by default, before it is told to try again
LOOK_AGAIN_S = 0.2  # for builders in other processes

_let_go = threading.Condition()


def let_go() -> None:
    """A builder of this process let a staged session go: wake whoever waits for one."""
    with _let_go:
        _let_go.notify_all()


@contextmanager
def settled(
    ctx: Context, staged_id: int, *, timeout: float = WAIT_S
) -> Iterator[tuple[DBSession, StagedSession | None]]:
    """A write transaction holding the staged session (locked on PostgreSQL) once no
    builder has it; ``None`` in its place when it is gone (archived or deleted). Raises
    :class:`Conflict` after ``timeout`` seconds of waiting."""
    deadline = time.monotonic() + timeout
    while True:
        with ctx.db.write() as db:
            staged = db.get(StagedSession, staged_id, with_for_update=True)
            if staged is None or staged.status not in BUSY:
                yield db, staged
                return
        left = deadline - time.monotonic()
        if left <= 0:
            raise Conflict(f"Staged session {staged_id} is busy; try again shortly.")
        with _let_go:
            _let_go.wait(min(left, LOOK_AGAIN_S))
