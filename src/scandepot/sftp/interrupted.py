"""Whether a close is the client's, or asyncssh cleaning up after a client that went away.

asyncssh calls ``SFTPServer.close`` for each handle still open when a session ends, the
same call a client's SSH_FXP_CLOSE makes. An upload is made visible only on the client's
close, so the two must differ: when the client has gone (its end of the channel at EOF
or closed, or the connection lost) the close is a clean-up. That state is private to
asyncssh's channel; this module alone reads it, and tests/sftp/test_sftp_drop.py kills a
client mid-upload to prove it.
"""

from __future__ import annotations

from typing import Any


def client_gone(channel: Any) -> bool:
    if channel.is_closing():
        return True
    state = getattr(channel, "_recv_state", None)
    return state is None or state != "open"
