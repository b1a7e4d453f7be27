"""Site-wide IDs: SD_S00001 for subjects, SD_E00001 for sessions. They never change."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session as DBSession

from scandepot.archive.models import Counter

KINDS = {"subject": "S", "session": "E"}


def next_accession(db: DBSession, kind: str, site_id: str) -> str:
    """Draw the next ID of ``kind`` inside the caller's transaction.

    ``UPDATE ... RETURNING`` takes the counter row's lock on PostgreSQL and runs under the
    single writer on SQLite, so two transactions never draw the same number.
    """
    value = db.execute(
        update(Counter)
        .where(Counter.name == kind)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar_one()
    return f"{site_id}_{KINDS[kind]}{value:05d}"
