"""One association, from its A-ASSOCIATE-RQ to its release or abort, on one thread.

The upper layer's states for an acceptor (PS3.8 §9.2), with blocking reads and
TCP_NODELAY: the first PDU must be an A-ASSOCIATE-RQ, answered as acse decides; then
P-DATA-TF PDUs go to the DIMSE service until an A-RELEASE-RQ (answered with an
A-RELEASE-RP, PS3.8 §7.2) or an A-ABORT. Anything else aborts the association. While a
query/retrieve operation is in progress, its steps run whenever nothing waits to be read,
so that a C-CANCEL is seen between two of its responses.
"""

from __future__ import annotations

import logging
import select
import socket
from collections.abc import Callable
from dataclasses import dataclass

from scandepot.dimse import acse
from scandepot.dimse.pdu import (
    A_ABORT,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP_PDU,
    A_RELEASE_RQ,
    P_DATA_TF,
    Abort,
    PduReader,
    a_abort,
)
from scandepot.dimse.qr import QueryRetrieve
from scandepot.dimse.service import DimseService, StoreHandler
from scandepot.dimse.settings import DimseSettings

log = logging.getLogger("scandepot.dicom")


@dataclass(frozen=True)
class Peer:
    """Who an accepted association is with."""

    calling_ae: str
    called_ae: str
    address: str


# (peer, its negotiation, how to send) -> the association's query/retrieve
QueryFor = Callable[[Peer, acse.Negotiation, Callable[[bytes], None]], QueryRetrieve]


class Association:
    """One association, served on the calling thread until released or aborted."""

    def __init__(
        self,
        settings: DimseSettings,
        sock: socket.socket,
        address: str,
        admit: Callable[[], bool],
        handler_for: Callable[[Peer], StoreHandler],
        scope_for: acse.ScopeFor | None = None,
        query_for: QueryFor | None = None,
    ) -> None:
        self.settings = settings
        self.sock = sock
        self.address = address
        self.admit = admit
        self.handler_for = handler_for
        self.scope_for = scope_for
        self.query_for = query_for
        self.calling_ae = ""
        self.called_ae = ""
        self.stored = 0
        self.reader = PduReader(sock, settings.max_pdu)

    def run(self) -> None:
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(self.settings.timeout_s)
        try:
            service = self._establish()
            if service is not None:
                self._serve(service)
        except Abort as exc:
            log.warning("aborting association from %s (%s): %s", self.calling_ae, self.address, exc)
            self._send_abort()
        except (ConnectionError, TimeoutError, OSError) as exc:
            log.info("association from %s (%s) ended: %s", self.calling_ae, self.address, exc)
        except Exception:
            log.exception("association from %s (%s) failed", self.calling_ae, self.address)
            self._send_abort()
        finally:
            self.sock.close()
            log.info(
                "association from %s (%s) closed; %d instance(s) stored",
                self.calling_ae,
                self.address,
                self.stored,
            )

    def _establish(self) -> DimseService | None:
        """Answer the A-ASSOCIATE-RQ; the DIMSE service when the association is accepted."""
        pdu_type, body = self.reader.read()
        if pdu_type != A_ASSOCIATE_RQ:
            raise Abort(f"expected A-ASSOCIATE-RQ, got PDU type {pdu_type:#x}")
        answer = acse.negotiate(
            self.reader.whole(body), self.settings, self.admit, self.address, self.scope_for
        )
        self.calling_ae, self.called_ae = answer.calling_ae, answer.called_ae
        self.sock.sendall(answer.answer)
        if not answer.accepted:
            return None
        peer = Peer(self.calling_ae, self.called_ae, self.address)
        handler = self.handler_for(peer)
        query = None
        if answer.scope is not None and self.query_for is not None:
            query = self.query_for(peer, answer, self.sock.sendall)
        return DimseService(answer.contexts, handler, self.sock.sendall, query)

    def _readable(self) -> bool:
        return bool(select.select([self.sock], [], [], 0)[0])

    def _serve(self, service: DimseService) -> None:
        try:
            while True:
                if service.runnable and not self._readable():
                    service.step()
                    continue
                self.reader.quick_ack = service.waiting
                pdu_type, body = self.reader.read()
                if pdu_type == P_DATA_TF:
                    service.receive(body)
                elif pdu_type == A_RELEASE_RQ:
                    service.close()  # nothing of ours left in tmp/ once released
                    self.sock.sendall(A_RELEASE_RP_PDU)
                    return
                elif pdu_type == A_ABORT:
                    return
                else:
                    raise Abort(f"unexpected PDU type {pdu_type:#x}")
        finally:
            self.stored = service.stored
            service.close()

    def _send_abort(self) -> None:
        try:
            self.sock.sendall(a_abort())
        except OSError:
            pass
