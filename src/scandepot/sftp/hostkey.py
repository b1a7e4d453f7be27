"""The server's host key: made at the first start, kept in the data folder (readable by
its owner only) and the same at every start after, so clients can trust it once."""

from __future__ import annotations

import os
import threading

import asyncssh

from scandepot.context import Context
from scandepot.errors import Conflict

KEY_FILE = "sftp_host_key"
_lock = threading.Lock()


def load_or_create(ctx: Context) -> asyncssh.SSHKey:
    path = ctx.settings.data_dir.resolve() / KEY_FILE
    with _lock:
        if not path.exists():
            key = asyncssh.generate_private_key("ssh-ed25519")
            with ctx.store.stage(hashed=False) as staged:
                os.chmod(staged.tmp_path, 0o600)
                staged.write(key.export_private_key("openssh"))
                try:
                    staged.publish(path)
                except Conflict:  # another process made one first: theirs is the key
                    pass
        return asyncssh.read_private_key(str(path))
