"""Sign-in to the SFTP server: a password or a public key, checked by ingest/'s
sign-in rules (the same failed sign-in limits as HTTP)."""

from __future__ import annotations

import asyncio
import logging

import asyncssh

from scandepot.context import Context
from scandepot.errors import ScandepotError
from scandepot.ingest import sftp_signin
from scandepot.ingest.sftp_signin import Principal

log = logging.getLogger("scandepot.sftp")
# Audits under way, held until done (the event loop holds its tasks only weakly).
_pending: set[asyncio.Future[None]] = set()


class Signin(asyncssh.SSHServer):
    """One per connection: who the client proved to be, once it has."""

    def __init__(self, ctx: Context, open_now: set[asyncssh.SSHServerConnection]) -> None:
        self.ctx = ctx
        self._open_now = open_now  # the server's connections, closed when it stops
        self._conn: asyncssh.SSHServerConnection | None = None
        self.address: str | None = None
        self.principal: Principal | None = None
        self._username = ""
        self._by_key: Principal | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        peer = conn.get_extra_info("peername")
        self.address = str(peer[0]) if peer else None
        self._conn = conn
        self._open_now.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._open_now.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        self._username = username
        return True  # every name must prove itself

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        try:
            self.principal = await asyncio.to_thread(
                sftp_signin.by_password, self.ctx, username, password, address=self.address
            )
        except ScandepotError as exc:
            log.info("SFTP sign-in refused for %r from %s: %s", username, self.address, exc)
            return False
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        fingerprint = key.get_fingerprint("sha256")
        try:
            found = await asyncio.to_thread(
                sftp_signin.by_key, self.ctx, username, fingerprint, address=self.address
            )
        except ScandepotError:
            return False
        if found is not None:
            self._by_key = found  # used only once the library has checked the signature
        return found is not None

    def auth_completed(self) -> None:
        if self.principal is None and self._by_key is not None:
            self.principal = self._by_key
            # Called without awaiting: the sign-in is audited beside the session's start.
            audit = asyncio.ensure_future(
                asyncio.to_thread(sftp_signin.signed_in, self.ctx, self.principal, "sftp-key")
            )
            _pending.add(audit)
            audit.add_done_callback(_pending.discard)
