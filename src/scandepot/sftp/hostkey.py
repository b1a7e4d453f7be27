"""The server's host key (Ed25519), kept by ingest/sftp_host_key.py."""

from __future__ import annotations

import asyncssh

from scandepot.context import Context
from scandepot.ingest import sftp_host_key

KEY_FILE = sftp_host_key.KEY_FILE


def load_or_create(ctx: Context) -> asyncssh.SSHKey:
    def make() -> bytes:
        return bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))

    return asyncssh.import_private_key(sftp_host_key.load_or_make(ctx, make))
