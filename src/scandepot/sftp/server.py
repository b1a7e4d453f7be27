"""The SFTP server: asyncssh on its own event loop in a thread beside the HTTP server
(``scandepot serve``), or alone (``scandepot sftp``)."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future

import asyncssh

from scandepot.access.actors import Actor
from scandepot.context import Context
from scandepot.ingest import drop_settler, drop_sweep
from scandepot.sftp import hostkey
from scandepot.sftp.browse_server import BrowseServer
from scandepot.sftp.drop_server import DropServer
from scandepot.sftp.signin import Signin

log = logging.getLogger("scandepot.sftp")

# AES first (AES-NI through OpenSSL): clients take the first of their own list that the
# server offers, and asyncssh's ChaCha20-Poly1305 (OpenSSH's first choice) runs at half the
# rate. Every SFTP client in use has AES-GCM or AES-CTR.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)
# With AES-CTR, HMAC-SHA2 (OpenSSL, in C) and not UMAC, which asyncssh computes through
# ctypes a packet at a time; offered at all, it would be chosen, as OpenSSH's clients list
# it first. Every SFTP client in use has HMAC-SHA2.
MACS = (
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
)


class SftpServer:
    """Listens on the ``sftp_host``/``sftp_port`` settings until :meth:`stop`."""

    def __init__(self, ctx: Context, *, port: int | None = None) -> None:
        self.ctx = ctx
        self.host = ctx.settings.sftp_host
        self.port = ctx.settings.sftp_port if port is None else port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp", daemon=True)
        self._server: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self.settler = drop_settler.Settler()

    def _sftp_for(self, chan: asyncssh.SSHServerChannel[bytes]) -> asyncssh.SFTPServer:
        """A drop account's write-only view, or a researcher's read-only one."""
        owner = chan.get_connection().get_owner()
        if not isinstance(owner, Signin) or owner.principal is None:
            raise asyncssh.SFTPPermissionDenied("Not signed in.")
        if isinstance(owner.principal, Actor):
            return BrowseServer(chan, owner.ctx, owner.principal)
        return DropServer(chan, owner.ctx, owner.principal, self.settler)

    async def _listen(self) -> asyncssh.SSHAcceptor:
        return await asyncssh.create_server(
            lambda: Signin(self.ctx, self._connections),
            self.host,
            self.port,
            server_host_keys=[hostkey.load_or_create(self.ctx)],
            sftp_factory=self._sftp_for,
            sftp_version=3,
            encryption_algs=list(CIPHERS),
            mac_algs=list(MACS),
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            login_timeout=120,
        )

    def start(self) -> SftpServer:
        drop_settler.recover(self.ctx)  # what a killed server answered, not catalogued
        drop_sweep.sweep(self.ctx)  # what it left and never answered
        self.settler.start()
        self._thread.start()
        future: Future[asyncssh.SSHAcceptor] = asyncio.run_coroutine_threadsafe(
            self._listen(), self._loop
        )
        try:
            self._server = future.result(timeout=60)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            raise
        self.port = self._server.get_port()
        log.info("SFTP on %s:%s", self.host, self.port)
        return self

    def stop(self) -> None:
        server = self._server
        if server is not None:

            async def close() -> None:
                server.close()
                await server.wait_closed()
                # Sessions still open end here, not later in a garbage collection.
                for conn in list(self._connections):
                    conn.close()
                    await conn.wait_closed()
                others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in others:
                    task.cancel()
                await asyncio.gather(*others, return_exceptions=True)

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=30)
        self.settler.stop()  # what was answered, catalogued before the process ends
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
