"""Folder moves that follow a catalog change, undone if the change does not commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from scandepot.context import Context


class Relocations:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._done: list[tuple[Path, Path]] = []

    def move(self, old: PurePosixPath, new: PurePosixPath) -> None:
        if old == new:
            return
        src, dst = self._ctx.archive_path(old), self._ctx.archive_path(new)
        if not src.exists():
            return
        self._ctx.store.move_tree(src, dst)
        self._done.append((src, dst))

    def undo(self) -> None:
        for src, dst in reversed(self._done):
            self._ctx.store.move_tree(dst, src)
        self._done.clear()


@contextmanager
def relocations(ctx: Context) -> Iterator[Relocations]:
    """Use as ``with relocations(ctx) as moves, ctx.db.write() as db:`` so that a failed
    commit (which raises on leaving the inner block) moves every folder back."""
    moves = Relocations(ctx)
    try:
        yield moves
    except BaseException:
        moves.undo()
        raise
