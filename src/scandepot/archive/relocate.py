"""Folder moves that follow a catalog change, undone if the change does not commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath

from scandepot.context import Context
from scandepot.storage.changes import Changes


class Relocations:
    """Moves of archive folders, named by their archive paths."""

    def __init__(self, ctx: Context, changes: Changes) -> None:
        self._ctx = ctx
        self._changes = changes

    def move(self, old: PurePosixPath, new: PurePosixPath) -> None:
        self._changes.move_tree(self._ctx.archive_path(old), self._ctx.archive_path(new))


@contextmanager
def relocations(ctx: Context) -> Iterator[Relocations]:
    """Use as ``with relocations(ctx) as moves, ctx.db.write() as db:`` so that a failed
    commit (which raises on leaving the inner block) moves every folder back."""
    with Changes(ctx.store) as changes:
        yield Relocations(ctx, changes)
