"""Failed sign-ins are limited per account and per client address.

The audit log is the record: failures counted are ``auth.login_failed`` events inside the
window (per account, only those after its last successful sign-in), so the limit holds
across processes and replicas sharing the catalog, and lifts by itself as time passes.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import zlib

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.audit import AuditAction
from scandepot.catalog.access import AuditEvent
from scandepot.db.base import utcnow
from scandepot.errors import ScandepotError
from scandepot.settings import Settings

FAILED = AuditAction.AUTH_LOGIN_FAILED
SUCCEEDED = AuditAction.AUTH_LOGIN
PASSWORD_CHANGED = AuditAction.AUTH_PASSWORD_CHANGED


# One sign-in of a login at a time in this process, from the check of the count to the
# record of its outcome: attempts at once would otherwise all pass the check before any
# failure is written. Striped, so that the locks do not grow with the logins tried.
_STRIPES = tuple(threading.Lock() for _ in range(64))


def one_at_a_time(login: str) -> threading.Lock:
    """The lock that sign-ins of ``login`` hold from :func:`check` to their record."""
    return _STRIPES[zlib.crc32(login.lower().encode()) % len(_STRIPES)]


class TooManyAttempts(ScandepotError):
    code = "too_many_attempts"
    status = 429

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("Too many failed sign-ins; try again later.")
        self.retry_after_s = retry_after_s


def check(db: DBSession, settings: Settings, *, login: str, address: str | None) -> None:
    """Raise :class:`TooManyAttempts` if either limit is reached."""
    now = utcnow()
    window_start = now - dt.timedelta(seconds=settings.login_failure_window_s)
    # A successful sign-in, or a new password (set by the user or an administrator),
    # starts the account's count afresh.
    last_success = db.scalar(
        select(func.max(AuditEvent.at)).where(
            or_(
                and_(AuditEvent.action == SUCCEEDED, AuditEvent.actor_login == login),
                and_(AuditEvent.action == PASSWORD_CHANGED, AuditEvent.target == login),
            )
        )
    )
    since = max(window_start, last_success) if last_success else window_start
    limits = [(AuditEvent.actor_login == login, since, settings.login_failures_per_account)]
    if address:
        limits.append(
            (AuditEvent.address == address, window_start, settings.login_failures_per_address)
        )
    for condition, start, limit in limits:
        oldest, count = db.execute(
            select(func.min(AuditEvent.at), func.count(AuditEvent.id)).where(
                AuditEvent.action == FAILED, condition, AuditEvent.at >= start
            )
        ).one()
        if count >= limit:
            lifts = oldest + dt.timedelta(seconds=settings.login_failure_window_s)
            raise TooManyAttempts(max(1, math.ceil((lifts - now).total_seconds())))
