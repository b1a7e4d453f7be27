"""A project's drop quota: the most bytes that may wait unmatched in its drop folder.

Three checks, each closer to the truth: the room left as an upload begins, counting the
bytes of the project's uploads running in this process (:data:`IN_FLIGHT`); each write
as it arrives, against the same; and the last, in the transaction that catalogues the
file, with the project's rule row locked (PostgreSQL; SQLite has one writer at a time),
so that files closed at once by several processes are counted one after the other and
the catalogued total never passes the quota.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.drops import DropItem, DropRule, DropState, MatchRule
from scandepot.errors import ScandepotError


class QuotaExceeded(ScandepotError):
    code = "quota_exceeded"
    status = 413

    def __init__(self, project: str, quota: int) -> None:
        super().__init__(
            f"Project '{project}' has no room left for drops (quota {quota} bytes).",
            field="quota_bytes",
        )


class InFlight:
    """The bytes accepted by this process's uploads still running, by project id."""

    def __init__(self) -> None:
        self._bytes: dict[int, int] = {}
        self._lock = threading.Lock()

    def of(self, project_id: int) -> int:
        with self._lock:
            return self._bytes.get(project_id, 0)

    def take(self, project_id: int, length: int, *, limit: int) -> bool:
        """Count ``length`` more bytes when the project's would stay within ``limit``."""
        with self._lock:
            now = self._bytes.get(project_id, 0)
            if now + length > limit:
                return False
            self._bytes[project_id] = now + length
            return True

    def give_back(self, project_id: int, length: int) -> None:
        with self._lock:
            left = self._bytes.get(project_id, 0) - length
            if left > 0:
                self._bytes[project_id] = left
            else:
                self._bytes.pop(project_id, None)


IN_FLIGHT = InFlight()


def quota_and_rule(db: DBSession, project_id: int) -> tuple[int | None, str]:
    """The project's quota and its matching rule."""
    row = db.execute(
        select(DropRule.quota_bytes, DropRule.rule).where(DropRule.project_id == project_id)
    ).first()
    return (row[0], row[1]) if row is not None else (None, MatchRule.NONE.value)


def waiting(db: DBSession, project_id: int) -> int:
    """The bytes of the project's unmatched drops."""
    used = db.scalar(
        select(func.coalesce(func.sum(DropItem.size), 0)).where(
            DropItem.project_id == project_id,
            DropItem.state == DropState.UNMATCHED.value,
        )
    )
    return int(used or 0)


def last_check(db: DBSession, project_id: int, project: str, size: int) -> None:
    """In the transaction that catalogues a file of ``size`` bytes: refused when the
    project has no room for it. Locks the project's rule row until the commit."""
    quota = db.scalar(
        select(DropRule.quota_bytes).where(DropRule.project_id == project_id).with_for_update()
    )
    if quota is not None and waiting(db, project_id) + size > quota:
        raise QuotaExceeded(project, quota)
