"""Site-wide IDs: SD_S00001 for subjects, SD_E00001 for sessions, SD_D00001 for
datasets. They never change.

The same counters number staged sessions, whose number names their spool folder.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Counter

KINDS = {"subject": "S", "session": "E", "dataset": "D"}


def next_value(db: DBSession, kind: str) -> int:
    """Draw the next number of counter ``kind`` inside the caller's transaction.

    ``UPDATE ... RETURNING`` takes the counter row's lock on PostgreSQL and runs under the
    single writer on SQLite, so two transactions never draw the same number, and a number
    drawn by a transaction that commits is never drawn again (unlike SQLite's row IDs,
    which reuse the highest one after it is deleted).
    """
    value: int = db.execute(
        update(Counter)
        .where(Counter.name == kind)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar_one()
    return value


def next_stable_id(db: DBSession, kind: str, site_id: str) -> str:
    """Draw the next site-wide ID of ``kind`` (subject, session or dataset)."""
    return f"{site_id}_{KINDS[kind]}{next_value(db, kind):05d}"
