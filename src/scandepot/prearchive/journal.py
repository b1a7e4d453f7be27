"""What an archive in progress is about to change in the archive folder, written down
before the change, so that a process killed mid-archive can be undone at start-up.

Archiving a staged session links its spool files into the archive and, with overwrite,
replaces archived files (keeping a backup of each), all before one catalog commit. A
crash before that commit leaves links the catalog does not know and replaced files
whose catalogued checksums are the old ones. The archive's file changes
(:class:`~scandepot.storage.changes.Changes`) are written down in a journal,
``prearchive/{id}/archiving.json`` beside the spool, before they are made: each link
and each replacement's backup.

The commit deletes the staged session, and its spool folder (journal included) goes with
it: a journal found beside a staged session that still exists is an archive that did
not commit. :func:`undo` then removes the links that are the spool's own files and puts
every backup back, whatever status the session shows.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom import uids
from scandepot.errors import Invalid
from scandepot.storage import spool
from scandepot.storage.changes import undo_journal

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


def path(ctx: Context, staged_id: int) -> Path:
    """The journal of an archive of the staged session ``staged_id``."""
    return spool.folder(ctx.store, staged_id) / NAME


def pending(ctx: Context) -> list[int]:
    """The staged sessions whose spool holds a journal: archives that did not commit."""
    root = spool.root(ctx.store)
    if not root.is_dir():
        return []
    return sorted(
        int(folder.name)
        for folder in root.iterdir()
        if folder.name.isdigit() and (folder / NAME).is_file()
    )


def undo(ctx: Context, staged_id: int, *, wait: bool = True) -> int:
    """Take back what an archive that did not commit changed; returns how many files.

    The undo holds the staged session as an archive does (its row locked, and on SQLite
    the one writer's lock) for as long as it changes files, so it never undoes an archive
    that another process is running now: that one holds the lock until it commits (and
    the staged session is gone: nothing to undo) or rolls back (and undoes itself).
    Without ``wait``, a row locked now is left at once (PostgreSQL), rather than waited
    for while that archive runs: a running builder's look must not stall behind it.
    Only a link that is the spool file itself is removed (the same inode): a file that
    was in the archive before is never touched, and a backup is put back only over the
    name it was taken from."""
    journal = path(ctx, staged_id)
    locking: bool | dict[str, bool] = True if wait else {"skip_locked": True}
    with ctx.db.write() as db:
        staged = db.get(StagedSession, staged_id, with_for_update=locking)
        if staged is None or not journal.is_file():
            return 0  # committed meanwhile, undone by the archive itself, or being archived
        try:
            return undo_journal(ctx.store, journal)
        except OSError as exc:
            log.error("archive journal of staged session %d unreadable: %s", staged_id, exc)
            return 0
