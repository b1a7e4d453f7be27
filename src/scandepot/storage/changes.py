"""File changes that go with one catalog transaction: made before its commit, undone
if it does not commit, finished after it does.

Use as ``with Changes(ctx.store) as changes, ctx.db.write() as db:`` so that a failed
commit (which raises on leaving the inner block) undoes every change. What can be undone:

- :meth:`Changes.link`: a second name for an existing file (a spool file at its archive
  name); undone by removing the new name, only while it is still the source itself;
- :meth:`Changes.replace` and :meth:`Changes.publish` over an existing file: the old file
  is kept as a hard-linked backup under ``tmp/`` and put back on undo, removed on commit;
- :meth:`Changes.publish` of a new file: removed on undo;
- :meth:`Changes.move_tree` and :meth:`Changes.set_aside` (a folder into the trash, removed
  on commit): moved back on undo.

With a ``journal`` path, links and replacements are also written down (appended and
fsynced) before they are made, so that a process killed before the commit can be undone
at start-up (:func:`undo_journal`); moves and publishes are not journalled. Whether the
commit happened is the caller's to know: a journal says only what may have changed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from scandepot.errors import Conflict
from scandepot.storage import space
from scandepot.storage.store import FileStore, StagedFile, file_digest, fsync_dir, make_dirs

log = logging.getLogger("scandepot.storage")


@dataclass(frozen=True, slots=True)
class Link:
    """``source`` is to be known as ``dest`` too. A file already at ``dest`` (left by a
    run that did not commit) counts as this link when it is the source itself, or holds
    the bytes given by ``size`` and ``sha256``; anything else there is a conflict."""

    source: Path
    dest: Path
    size: int | None = None
    sha256: str | None = None


class Changes:
    """See the module docstring."""

    def __init__(self, store: FileStore, *, journal: Path | None = None) -> None:
        self._store = store
        self._journal = journal
        self._journal_made = False
        self._links: list[tuple[str, str]] = []  # (source, new name), data-folder relative
        self._backups: list[tuple[str, str]] = []  # (backup, name it was taken from)
        self._created: list[Path] = []  # published where nothing was
        self._moves: list[tuple[Path, Path]] = []  # (from, to), in the order done
        self._aside: list[Path] = []  # in the trash until the commit

    # -- changes -------------------------------------------------------------------------

    @space.guarded()
    def link(self, links: Sequence[Link]) -> None:
        """Give each source its new name (written down first, when journalled); the
        caller fsyncs the folders (:meth:`sync_folders`) before it commits."""
        pairs = [(self._relative(item.source), self._relative(item.dest)) for item in links]
        self._write_down([{"link": list(pair)} for pair in pairs])
        for item, pair in zip(links, pairs, strict=True):
            _link(item)
            self._links.append(pair)

    @space.guarded()
    def replace(self, pairs: Sequence[tuple[Path, Path]]) -> None:
        """Put each source's bytes at its destination, an existing file that is kept as a
        backup until the commit (written down first, when journalled)."""
        planned = [
            (src, dest, self._store.tmp / f"{uuid.uuid4().hex}.replaced") for src, dest in pairs
        ]
        self._write_down(
            [
                {"replace": [self._relative(backup), self._relative(dest)]}
                for _src, dest, backup in planned
            ]
        )
        for src, dest, backup in planned:
            os.link(dest, backup)
            self._backups.append((self._relative(backup), self._relative(dest)))
            incoming = self._store.tmp / f"{uuid.uuid4().hex}.incoming"
            os.link(src, incoming)
            os.replace(incoming, dest)

    def publish(self, staged: StagedFile, dest: Path, *, overwrite: bool = False) -> None:
        """Give a staged file its final name (:meth:`StagedFile.publish`); with
        ``overwrite`` a file already there is kept as a backup until the commit."""
        backup = None
        if overwrite and dest.exists():
            backup = self._store.tmp / f"{uuid.uuid4().hex}.replaced"
            os.link(dest, backup)
            self._backups.append((self._relative(backup), self._relative(dest)))
        staged.publish(dest, overwrite=overwrite)
        if backup is None:
            self._created.append(dest)

    def move_tree(self, src: Path, dst: Path) -> None:
        """Rename a folder (:meth:`FileStore.move_tree`); nothing when ``src`` is missing."""
        if src == dst or not src.exists():
            return
        self._store.move_tree(src, dst)
        self._moves.append((src, dst))

    def set_aside(self, path: Path) -> bool:
        """Move a folder (or a file) into the trash: removed on commit, put back on undo.
        False when there was nothing at ``path`` (gone before, or taken by another)."""
        if not path.exists():
            return False
        aside = self._store.trash / uuid.uuid4().hex
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        # Durable before the commit: a folder that came back after a crash would hold files
        # the catalog no longer lists.
        fsync_dir(path.parent)
        self._moves.append((path, aside))
        self._aside.append(aside)
        return True

    def sync_folders(self, folders: Sequence[Path]) -> None:
        for folder in folders:
            fsync_dir(folder)

    # -- the end ---------------------------------------------------------------------------

    def commit(self) -> None:
        """The catalog committed: backups, the trash and the journal go."""
        for backup, _name in self._backups:
            (self._store.data_dir / backup).unlink(missing_ok=True)
        for aside in self._aside:
            self._store.remove_tree(aside)
        if self._journal is not None:
            # Not fsynced: a journal found after a commit is the caller's to ignore.
            self._journal.unlink(missing_ok=True)
        self._clear()

    def undo(self) -> None:
        """The catalog did not commit: every change is taken back, newest first."""
        for src, dst in reversed(self._moves):
            if dst.exists() and not src.exists():
                make_dirs(src.parent)
                os.rename(dst, src)
                fsync_dir(src.parent)
        for path in reversed(self._created):
            self._store.remove_file(path)
        self._store.take_back(self._links, self._backups)
        if self._journal is not None and self._journal_made:
            self._store.remove_file(self._journal)
        self._clear()

    def _clear(self) -> None:
        self._links, self._backups, self._created = [], [], []
        self._moves, self._aside = [], []

    def __enter__(self) -> Changes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.commit()
        else:
            self.undo()

    # -- the journal -----------------------------------------------------------------------

    def _write_down(self, entries: list[dict[str, list[str]]]) -> None:
        """Append ``entries`` to the journal, durably, before the changes they name."""
        if self._journal is None or not entries:
            return
        body = "".join(json.dumps(entry) + "\n" for entry in entries).encode()
        fd = os.open(self._journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            written = 0
            while written < len(body):
                written += os.write(fd, body[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if not self._journal_made:
            fsync_dir(self._journal.parent)
            self._journal_made = True

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self._store.data_dir))


def _link(item: Link) -> None:
    try:
        os.link(item.source, item.dest)
    except FileNotFoundError:
        make_dirs(item.dest.parent)
        os.link(item.source, item.dest)
    except FileExistsError:
        if os.path.samefile(item.source, item.dest):
            return
        there = file_digest(item.dest)
        if item.sha256 is not None and (there.size, there.sha256) == (item.size, item.sha256):
            return
        raise Conflict(
            f"A file the catalog does not hold is in the way at '{item.dest.name}' "
            f"({there.size} bytes, other than the {item.size} received); "
            "`scandepot check` lists such files."
        ) from None
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        raise Conflict(
            f"'{item.dest.name}' cannot be linked from another file system; files are "
            "linked within one data folder only."
        ) from None


def undo_journal(store: FileStore, journal: Path) -> int:
    """Take back what the journal of a run that did not commit names (see
    :meth:`FileStore.take_back`), then remove it; returns how many names changed. A last
    line cut short by a crash is ignored: what it named was not yet changed."""
    links: list[tuple[str, str]] = []
    backups: list[tuple[str, str]] = []
    for line in journal.read_bytes().splitlines():
        try:
            entry = json.loads(line)
            if "link" in entry:
                source, dest = entry["link"]
                links.append((str(source), str(dest)))
            elif "replace" in entry:
                backup, name = entry["replace"]
                backups.append((str(backup), str(name)))
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("journal %s: a line not read (%s)", journal, exc)
    undone = store.take_back(links, backups)
    store.remove_file(journal)
    return undone
