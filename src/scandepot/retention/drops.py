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

from sqlalchemy.orm import Session as DBSession

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
    """The site's unmatched drops, as ingest/drops.py keeps them."""

    def unmatched(self, ctx: Context) -> list[UnmatchedDrop]:
        return [
            UnmatchedDrop(str(d.id), d.project, d.path, d.dropped_at, d.size)
            for d in drops.unmatched_drops(ctx)
        ]

    def discard(self, ctx: Context, db: DBSession, changes: Changes, key: str) -> bool:
        if not key.isdigit():
            return False
        return drops.discard(ctx, db, changes, int(key))
