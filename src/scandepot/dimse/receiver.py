"""The listening socket: a thread per association, and further receiving processes.

Associations beyond the configured number are rejected as transient (acse). With
several processes, each listens on the same port (SO_REUSEPORT) and the kernel spreads
the connections among them.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
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
        reuse = settings.reuse_port or settings.processes > 1
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            listener.bind((settings.host, settings.port))
            self._listener = listener  # bound: its port is known (when 0 was asked)
            # The further processes listen first: the kernel gives each new connection
            # to one of the sockets listening at that moment, so one that listened alone
            # while the others started would keep every association opened meanwhile.
            for _ in range(settings.processes - 1):
                self._workers.append(_Worker.start(self.ctx, settings, self.port))
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
            threading.Thread(
                target=self._serve_one,
                args=(sock, peer[0]),
                name=f"dicom-{peer[0]}:{peer[1]}",
                daemon=True,
            ).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        for worker in self._workers:
            worker.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.group.close()


class _Worker:
    """A further receiving process on the same port (SO_REUSEPORT): its own interpreter,
    catalog engine and group commit; no prearchive builder. It ends when told to, or when
    the process that started it is gone (its end of the pipe closes)."""

    def __init__(self, process: BaseProcess, pipe: Connection) -> None:
        self.process = process
        self.pipe = pipe

    @classmethod
    def start(cls, ctx: Context, settings: DimseSettings, port: int) -> _Worker:
        mp = multiprocessing.get_context("spawn")
        ours, theirs = mp.Pipe()
        child = replace(settings, port=port, processes=1, reuse_port=True)
        process = mp.Process(
            target=_worker_main, args=(ctx.settings, child, theirs), name="dicom-worker"
        )
        process.start()
        theirs.close()
        if not ours.poll(30) or ours.recv() != "listening":
            process.kill()
            raise OSError("a DICOM receiving process did not start")
        return cls(process, ours)

    def stop(self) -> None:
        self.pipe.close()  # the worker sees the end of the pipe and stops
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


def _worker_main(app_settings: Settings, settings: DimseSettings, pipe: Connection) -> None:
    logging.basicConfig(
        level=app_settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C goes to the parent
    ctx = Context.from_settings(app_settings)
    receiver = Receiver(ctx, settings).start()
    pipe.send("listening")
    try:
        pipe.recv()
    except (EOFError, OSError):
        pass
    finally:
        receiver.stop()
        ctx.close()
