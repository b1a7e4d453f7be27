"""The mark a dropped file carries from its close until its catalog row is committed.

A drop's close is answered once the file has its name in the drop folder, before it is
fsynced and catalogued (ingest/drop_settler.py does both, in batches). A file in that
state carries an extended attribute, ``user.scandepot.pending``, that says what the
close saw (size and SHA-256) and which process answered it. When that process is gone
before the commit, the next start finds the mark (:func:`read`) and finishes the work:
the file is catalogued if it still holds what the close saw, and removed (with an error
in the log) if a crash of the machine cut it short. A file system without user extended
attributes (``ENOTSUP``) keeps no mark; its unsettled files are swept as before.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from scandepot.storage.store import StoredDigest

NAME = "user.scandepot.pending"
_UNSUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)


@dataclass(frozen=True, slots=True)
class Pending:
    size: int
    sha256: str
    account_id: int  # the drop account that wrote it
    host: str
    pid: int

    def owner_alive(self) -> bool:
        """Whether the process that answered the close may still settle the file: it
        runs on this host, or it runs on another (which this process cannot see). A
        process id given again to another process looks alive: the caller's age limit
        covers that."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def mark(path: Path, digest: StoredDigest, account_id: int) -> None:
    value = {"size": digest.size, "sha256": digest.sha256, "account": account_id}
    value |= {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        os.setxattr(path, NAME, json.dumps(value).encode(), follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise


def unmark(path: Path) -> None:
    try:
        os.removexattr(path, NAME, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (*_UNSUPPORTED, errno.ENODATA, errno.ENOENT):
            raise


def read(path: Path) -> Pending | None:
    """The mark of ``path``; None for a file without one (or one that is gone)."""
    try:
        raw = os.getxattr(path, NAME, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (*_UNSUPPORTED, errno.ENODATA, errno.ENOENT):
            return None
        raise
    try:
        value = json.loads(raw)
        return Pending(
            int(value["size"]),
            str(value["sha256"]),
            int(value["account"]),
            str(value["host"]),
            int(value["pid"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
