"""Staged sessions put in the states a builder leaves them in."""

from __future__ import annotations

from sqlalchemy import func, select

from scandepot.catalog.archive import Session
from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.context import Context
from scandepot.prearchive import builder


def ready(ctx: Context, staged_id: int) -> None:
    """Built, as the builder leaves a session before it archives it."""
    with ctx.db.write() as db:
        row = db.get(StagedSession, staged_id)
        assert row is not None
        builder.build(db, row)
        assert row.status == Status.READY


def staged_and_archived(ctx: Context) -> tuple[int, int]:
    """How many staged sessions there are, and how many archived sessions."""
    with ctx.db.read() as db:
        staged = db.scalar(select(func.count()).select_from(StagedSession))
        archived = db.scalar(select(func.count()).select_from(Session))
    return int(staged or 0), int(archived or 0)
