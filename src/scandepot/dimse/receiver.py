"""The listening socket: a thread per association, and further receiving processes.

Associations beyond the configured number are rejected as transient (acse). With
several processes, the first one accepts every connection and hands each to the process
serving the fewest associations at that moment, itself included (the socket goes over a
Unix socket pair, SCM_RIGHTS). Each association's C-STORE work is Python work under its
process's one interpreter lock, so how evenly the associations are spread is how many
cores they get: the kernel's own spreading among sockets listening on one port
(SO_REUSEPORT) hashes each connection's addresses, which put three of four concurrent
associations in one process half the time.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.process import BaseProcess

from pynetdicom import __version__ as pynetdicom_version

from scandepot.context import Context
from scandepot.dicomnodes import nodes
from scandepot.dimse.acse import Negotiation
from scandepot.dimse.association import Association, Peer
from scandepot.dimse.qr import QueryRetrieve
from scandepot.dimse.settings import DimseSettings
from scandepot.dimse.store_handler import PrearchiveStore
from scandepot.ingest.group import GroupCommit
from scandepot.ingest.receive import Source
from scandepot.query.scope import Scope
from scandepot.settings import Settings

log = logging.getLogger("scandepot.dicom")


class Receiver:
    """Accepts associations on the DICOM port, each served by its own thread."""

    def __init__(self, ctx: Context, settings: DimseSettings | None = None) -> None:
        self.ctx = ctx
        self.settings = settings or DimseSettings.from_context(ctx)
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._active = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.group = GroupCommit(ctx)
        self._workers: list[_Worker] = []
        self._serving = 0  # associations handed to this process's threads, not yet over
        self._ended: Callable[[], None] | None = None  # tells the first process, in a worker

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.getsockname()[1])

    def _admit(self) -> bool:
        with self._lock:
            if self._active >= self.settings.max_associations:
                return False
            self._active += 1
            return True

    def _handler_for(self, peer: Peer) -> PrearchiveStore:
        source = Source(
            "dicom",
            called_ae=peer.called_ae,
            calling_ae=peer.calling_ae,
            address=peer.address,
            default_project=self.settings.ae_projects.get(peer.called_ae),
        )
        return PrearchiveStore(self.ctx, self.group, source)

    def _scope_for(self, calling_ae: str, address: str) -> Scope | None:
        return nodes.peer_scope(self.ctx, calling_ae, address, self.settings.unmapped_peers)

    def _query_for(
        self, peer: Peer, negotiation: Negotiation, send: Callable[[bytes], None]
    ) -> QueryRetrieve:
        assert negotiation.scope is not None
        return QueryRetrieve(
            self.ctx,
            negotiation.scope,
            self.settings.ae_title,
            peer.calling_ae,
            negotiation.contexts,
            negotiation.scp_roles,
            negotiation.peer_max_pdu,
            send,
            self.settings.find_limit,
            self.settings.timeout_s,
        )

    def _serve_one(self, sock: socket.socket, address: str) -> None:
        try:
            self._associate(sock, address)
        finally:
            with self._lock:
                self._serving -= 1
            if self._ended is not None:
                self._ended()

    def _associate(self, sock: socket.socket, address: str) -> None:
        admitted = [False]

        def admit() -> bool:
            admitted[0] = self._admit()
            return admitted[0]

        try:
            Association(
                self.settings,
                sock,
                address,
                admit,
                self._handler_for,
                self._scope_for,
                self._query_for,
            ).run()
        finally:
            if admitted[0]:
                with self._lock:
                    self._active -= 1

    def start(self) -> Receiver:
        settings = self.settings
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if settings.reuse_port:  # other `scandepot dicom` commands on this port
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            listener.bind((settings.host, settings.port))
            self._listener = listener  # bound: its port is known (when 0 was asked)
            for _ in range(settings.processes - 1):
                self._workers.append(_Worker.start(self.ctx, settings))
            listener.listen()
        except BaseException:
            listener.close()
            self.stop()
            raise
        listener.settimeout(0.5)
        self._thread = threading.Thread(target=self._accept_loop, name="dicom-accept", daemon=True)
        self._thread.start()
        log.info(
            "DICOM receiver %s listening on %s:%d in %d process(es) (pynetdicom %s for "
            "negotiation)",
            settings.ae_title,
            settings.host,
            self.port,
            settings.processes,
            pynetdicom_version,
        )
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            self._dispatch(sock, peer[0], peer[1])

    def _dispatch(self, sock: socket.socket, address: str, port: int) -> None:
        """Serve ``sock`` in the process with the fewest associations (a further process
        first when they tie: this one also runs the prearchive builder)."""
        with self._lock:
            ours = self._serving
        live = [w for w in self._workers if w.settle()]
        target = min(live, key=lambda w: w.serving, default=None)
        if target is not None and target.serving <= ours and target.hand(sock):
            return
        self._take(sock, address, port)

    def _take(self, sock: socket.socket, address: str, port: int) -> None:
        with self._lock:
            self._serving += 1
        threading.Thread(
            target=self._serve_one,
            args=(sock, address),
            name=f"dicom-{address}:{port}",
            daemon=True,
        ).start()

    def serve_handed(self, channel: socket.socket) -> None:
        """In a further process: serve the connections the first process hands over
        ``channel``, telling it of each association's end, until it closes its end."""
        lock = threading.Lock()

        def ended() -> None:
            with lock, contextlib.suppress(OSError):
                channel.sendall(_ENDED)

        self._ended = ended
        while not self._stopping.is_set():
            try:
                _, fds, _, _ = socket.recv_fds(channel, 16, 1)
            except OSError:
                return
            if not fds:
                return  # the first process closed its end (or is gone)
            sock = socket.socket(fileno=fds[0])
            try:
                address, port = sock.getpeername()[:2]
            except OSError:  # the sender is gone already
                sock.close()
                ended()
                continue
            self._take(sock, address, port)

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        for worker in self._workers:
            worker.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.group.close()


_ENDED = b"."  # a further process to the first: one of its associations is over


class _Worker:
    """A further receiving process: its own interpreter, catalog engine and group commit;
    no prearchive builder. It serves the connections handed over its channel (a Unix
    socket pair) and says over it when each association ends; it ends when the first
    process closes its end of the channel, or is gone."""

    def __init__(self, process: BaseProcess, channel: socket.socket) -> None:
        self.process = process
        self.channel = channel
        self.serving = 0  # associations handed to it and not yet over
        self.alive = True

    @classmethod
    def start(cls, ctx: Context, settings: DimseSettings) -> _Worker:
        mp = multiprocessing.get_context("spawn")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        child = replace(settings, processes=1, reuse_port=False)
        process = mp.Process(
            target=_worker_main, args=(ctx.settings, child, theirs), name="dicom-worker"
        )
        try:
            process.start()
        finally:
            theirs.close()
        ours.settimeout(30)
        try:
            ready = ours.recv(1)
        except OSError:
            ready = b""
        if ready != _READY:
            process.kill()
            ours.close()
            raise OSError("a DICOM receiving process did not start")
        ours.setblocking(False)
        return cls(process, ours)

    def settle(self) -> bool:
        """Count the associations it said are over; whether it still serves."""
        while self.alive:
            try:
                said = self.channel.recv(4096)
            except BlockingIOError:
                break
            except OSError:
                said = b""
            if not said:
                self.alive = False  # gone: its associations went with it
                break
            self.serving -= len(said)
        return self.alive

    def hand(self, sock: socket.socket) -> bool:
        """Hand a connection over (this process's copy is closed); False if it cannot
        be, the worker being gone."""
        try:
            socket.send_fds(self.channel, [b"c"], [sock.fileno()])
        except OSError:  # BlockingIOError too: a worker that stopped reading
            self.alive = False
            return False
        sock.close()
        self.serving += 1
        return True

    def stop(self) -> None:
        self.channel.close()  # the worker sees the end of its channel and stops
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


_READY = b"r"


def _worker_main(app_settings: Settings, settings: DimseSettings, channel: socket.socket) -> None:
    logging.basicConfig(
        level=app_settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C goes to the parent
    ctx = Context.from_settings(app_settings)
    receiver = Receiver(ctx, settings)
    try:
        channel.sendall(_READY)
        receiver.serve_handed(channel)
    finally:
        receiver.stop()
        ctx.close()
