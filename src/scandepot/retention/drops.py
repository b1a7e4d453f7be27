"""Unmatched SFTP drops: files and folders dropped into a project's drop folder that no
rule attached to a session (ingest/drops.py keeps them).

The area is written against :class:`DropSource`, the few calls it needs of the drops'
service: :class:`IngestDrops` is the site's (ingest/drops.py); tests hand in their own.
An item is one unmatched drop, its time beginning when it was dropped; its uploader is
the drop account's project's people (a drop account is no person), so the project's
owners and members are warned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.drops import DropItem
from scandepot.context import Context
from scandepot.ingest import drops
from scandepot.retention.areas import TITLES, AreaName, Item
from scandepot.storage.changes import Changes


@dataclass(frozen=True, slots=True)
class UnmatchedDrop:
    key: str  # stable: the drop's ID
    project: str  # the project's label
    path: str  # as dropped, relative to the project's drop folder
    dropped_at: dt.datetime  # UTC
    size: int


class DropSource(Protocol):
    def unmatched(self, ctx: Context) -> list[UnmatchedDrop]:
        """Every drop that waits unmatched now."""
        ...

    def discard(self, ctx: Context, db: DBSession, changes: Changes, key: str) -> bool:
        """Remove the unmatched drop ``key`` in the caller's transaction (its files set
        aside through ``changes``, its rows deleted); False when it is gone or matched."""
        ...


class DropsArea:
    name = AreaName.DROPS
    title = TITLES[AreaName.DROPS]

    def __init__(self, source: DropSource) -> None:
        self.source = source

    def items(self, ctx: Context) -> list[Item]:
        return [
            Item(
                self.name,
                drop.key,
                f"unmatched drop {drop.path} in {drop.project}",
                drop.project,
                drop.dropped_at,
                drop.size,
            )
            for drop in self.source.unmatched(ctx)
        ]

    def remove(self, ctx: Context, db: DBSession, changes: Changes, item: Item) -> bool:
        return self.source.discard(ctx, db, changes, item.key)


class IngestDrops:
    """The site's unmatched drops, as ingest/drops.py keeps them. An item's key is the
    drop's id and the instant it was dropped: a hold or a plan never passes to another
    drop that comes to have the same id (SQLite hands out a deleted row's id again)."""

    def unmatched(self, ctx: Context) -> list[UnmatchedDrop]:
        return [
            UnmatchedDrop(_key(d.id, d.dropped_at), d.project, d.path, d.dropped_at, d.size)
            for d in drops.unmatched_drops(ctx)
        ]

    def discard(self, ctx: Context, db: DBSession, changes: Changes, key: str) -> bool:
        drop_id, _sep, _when = key.partition(":")
        if not drop_id.isdigit():
            return False
        dropped_at = db.scalar(select(DropItem.dropped_at).where(DropItem.id == int(drop_id)))
        if dropped_at is None or _key(int(drop_id), dropped_at) != key:
            return False  # gone, or another drop since
        return drops.discard(ctx, db, changes, int(drop_id))


def _key(drop_id: int, dropped_at: dt.datetime) -> str:
    return f"{drop_id}:{dropped_at.astimezone(dt.UTC):%Y%m%dT%H%M%S.%fZ}"
