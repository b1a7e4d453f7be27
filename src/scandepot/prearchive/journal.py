"""What an archive in progress is about to change in the archive folder, written down
before the change, so that a process killed mid-archive can be undone at start-up.

Archiving a staged session links its spool files into the archive and, with overwrite,
replaces archived files (keeping a backup of each), all before one catalog commit. A
crash before that commit leaves links the catalog does not know and replaced files
whose catalogued checksums are the old ones. The journal, ``prearchive/{id}/archiving.json``
beside the spool, is rewritten (durably, through storage/) before each scan's changes:
the folders the session's series are linked into, and each replacement's backup.

The commit deletes the staged session, and its spool folder (journal included) goes with
it: a journal found beside a staged session that still exists is an archive that did
not commit. :func:`undo` then removes the links that are the spool's own files and puts
every backup back, whatever status the session shows.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import select

from scandepot.catalog.prearchive import Instance, PrearchiveSession
from scandepot.context import Context
from scandepot.dicom import uids
from scandepot.errors import Invalid

log = logging.getLogger("scandepot.prearchive")

NAME = "archiving.json"


def archive_name(sop_instance_uid: str) -> str:
    """An archived instance's file name; the UID was checked on the way in, and is
    checked again here, where it becomes a path (a catalog from before that check)."""
    if not uids.is_valid(sop_instance_uid):
        raise Invalid(
            f"The staged instance {sop_instance_uid!r} has no valid SOP Instance UID.",
            field="dicom",
        )
    return f"{sop_instance_uid}.dcm"


class Journal:
    """The archive folder changes of one archive, recorded before they are made."""

    def __init__(self, ctx: Context, prearchive_id: int) -> None:
        self._ctx = ctx
        self.path = ctx.store.data_dir / "prearchive" / str(prearchive_id) / NAME
        self._links: list[tuple[str, str]] = []  # (archive folder, SeriesInstanceUID)
        self._replaced: list[tuple[str, str]] = []  # (backup in tmp/, archived file)

    def will_link(self, folder: Path, series: str) -> None:
        self._links.append((self._relative(folder), series))

    def will_replace(self, backup: Path, dest: Path) -> None:
        self._replaced.append((self._relative(backup), self._relative(dest)))

    def write(self) -> None:
        """Make what was announced durable; call before making the changes."""
        body = json.dumps({"links": self._links, "replaced": self._replaced}).encode()
        self._ctx.store.write(self.path, [body], overwrite=True)

    def remove(self) -> None:
        self._ctx.store.remove_file(self.path)

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self._ctx.store.data_dir))


def pending(ctx: Context) -> list[int]:
    """The staged sessions whose spool holds a journal: archives that did not commit."""
    spool = ctx.store.data_dir / "prearchive"
    if not spool.is_dir():
        return []
    return sorted(
        int(folder.name)
        for folder in spool.iterdir()
        if folder.name.isdigit() and (folder / NAME).is_file()
    )


def undo(ctx: Context, prearchive_id: int) -> int:
    """Take back what an archive that did not commit changed; returns how many files.

    The undo holds the staged session as an archive does (its row locked, and on SQLite
    the one writer's lock) for as long as it changes files, so it never undoes an archive
    that another process is running now: that one holds the lock until it commits (and
    the staged session is gone: nothing to undo) or rolls back (and undoes itself).
    Only a link that is the spool file itself is removed (the same inode): a file that
    was in the archive before is never touched, and a backup is put back only over the
    name it was taken from."""
    journal = ctx.store.data_dir / "prearchive" / str(prearchive_id) / NAME
    with ctx.db.write() as db:
        staged = db.get(PrearchiveSession, prearchive_id, with_for_update=True)
        if staged is None or not journal.is_file():
            return 0  # committed meanwhile, or undone by the archive itself
        try:
            entries = json.loads(journal.read_bytes())
            links = [(str(f), str(s)) for f, s in entries.get("links", [])]
            replaced = [(str(b), str(d)) for b, d in entries.get("replaced", [])]
        except (OSError, ValueError, TypeError) as exc:
            # Written atomically, so only a hand-edited journal gets here; the spool stays.
            log.error("archive journal of staged session %d unreadable: %s", prearchive_id, exc)
            return 0
        rows = db.execute(
            select(Instance.SeriesInstanceUID, Instance.SOPInstanceUID, Instance.spool_path).where(
                Instance.prearchive_id == prearchive_id, Instance.spool_path.is_not(None)
            )
        ).all()
        by_series: dict[str, list[tuple[str, str]]] = {}
        for series, sop, spool_path in rows:
            if uids.is_valid(sop):
                by_series.setdefault(series, []).append((sop, str(spool_path)))
        undone = ctx.store.take_back(
            [
                (f"{spool_path}", f"{folder}/{sop}.dcm")
                for folder, series in links
                for sop, spool_path in by_series.get(series, [])
            ],
            replaced,
        )
        ctx.store.remove_file(journal)
    return undone
