"""The SFTP server's host key: made at the first start, kept in the data folder readable
by its owner only, and the same at every start after, so clients can trust it once."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from scandepot.context import Context
from scandepot.errors import Conflict

KEY_FILE = "sftp_host_key"
_lock = threading.Lock()


def load_or_make(ctx: Context, make: Callable[[], bytes]) -> bytes:
    """The key file's bytes; ``make`` gives a new private key's when there is none yet,
    written durably and atomically (a key made at the same time elsewhere wins)."""
    path = ctx.settings.data_dir.resolve() / KEY_FILE
    with _lock:
        if not path.exists():
            with ctx.store.stage(hashed=False) as staged:
                os.chmod(staged.tmp_path, 0o600)
                staged.write(make())
                try:
                    staged.publish(path)
                except Conflict:
                    pass
        return path.read_bytes()
