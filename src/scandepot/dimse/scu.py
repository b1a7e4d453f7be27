"""A storage SCU association of our own towards a C-MOVE destination (PS3.8 §7, PS3.7
§9.1.1): negotiated with pynetdicom's PDU classes, as the receiver's are, and the
C-STOREs sent as a C-GET sends them: the stored bytes streamed from the file when the
destination takes the stored transfer syntax, with TCP_NODELAY on our side and every
segment of the destination's C-STORE-RSP acknowledged at once.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
from pynetdicom.presentation import PresentationContext

from scandepot.dimse import commands, messages
from scandepot.dimse.acse import APPLICATION_CONTEXT, user_information
from scandepot.dimse.pdu import (
    A_ABORT,
    A_RELEASE_RP,
    COMMAND,
    LAST,
    P_DATA_TF,
    Abort,
    PduReader,
    a_abort,
    encode,
    pdvs,
)
from scandepot.dimse.sending import choose, open_data_set
from scandepot.retrieve.instances import Located

A_ASSOCIATE_AC_TYPE, A_ASSOCIATE_RJ_TYPE = 0x02, 0x03
A_RELEASE_RQ_PDU = encode(0x05, b"\x00" * 4)  # PS3.8 §9.3.6
MAX_CONTEXTS = 128  # presentation contexts in one association, PS3.8 §9.3.2.2


class Refused(OSError):
    """The destination cannot be reached, or rejected the association."""


@dataclass
class StoreAssociation:
    sock: socket.socket
    reader: PduReader
    contexts: dict[int, tuple[str, str]]  # accepted: ID -> (abstract syntax, transfer syntax)
    peer_max_pdu: int
    _released: bool = field(default=False, repr=False)

    @classmethod
    def open(
        cls,
        calling: str,
        called: str,
        address: tuple[str, int],
        proposals: Sequence[tuple[str, list[str]]],
        max_pdu: int,
        timeout: float,
    ) -> StoreAssociation:
        """An association with ``called`` proposing a context for each (SOP class, transfer
        syntaxes) of ``proposals`` (the first :data:`MAX_CONTEXTS`); :class:`Refused` when
        it cannot be had."""
        try:
            sock = socket.create_connection(address, timeout=timeout)
        except OSError as exc:
            where = f"{address[0]}:{address[1]}"
            raise Refused(f"cannot connect to {called} at {where}: {exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = PduReader(sock, max_pdu)
        try:
            sock.sendall(_associate_rq(calling, called, proposals, max_pdu))
            pdu_type, body = reader.read()
            if pdu_type != A_ASSOCIATE_AC_TYPE:
                raise Refused(f"{called} did not accept the association (PDU {pdu_type:#x})")
            contexts, peer_max_pdu = _accepted(reader.whole(body), proposals)
        except (OSError, Abort) as exc:
            sock.close()
            raise exc if isinstance(exc, Refused) else Refused(str(exc)) from None
        return cls(sock, reader, contexts, peer_max_pdu)

    def store(self, item: Located, message_id: int, originator: tuple[str, int]) -> int | None:
        """One C-STORE: the destination's status; None when the instance could not go
        (no context for it, no way to make the data set, the association lost: then
        aborted, and every later one fails too)."""
        if self._released:
            return None
        try:
            return self._store(item, message_id, originator)
        except (OSError, Abort):
            self.abort()
            return None

    def _store(self, item: Located, message_id: int, originator: tuple[str, int]) -> int | None:
        chosen = choose(self.contexts, None, item)
        data = open_data_set(item, chosen[1]) if chosen is not None else None
        if chosen is None or data is None:
            return None
        with data:
            command = messages.c_store_rq(message_id, item.sop_class, item.sop_instance, originator)
            messages.send_message(self.sock.sendall, chosen[0], command, data, self.peer_max_pdu)
        return self._status()

    def _status(self) -> int:
        """The status of the C-STORE-RSP that comes next (PS3.7 §9.3.1.2)."""
        command = bytearray()
        self.reader.quick_ack = True
        try:
            while True:
                pdu_type, body = self.reader.read()
                if pdu_type != P_DATA_TF:
                    raise Abort(f"PDU type {pdu_type:#x} instead of a C-STORE-RSP")
                for _, control, data in pdvs(body):
                    if not control & COMMAND:
                        raise Abort("a data set with a C-STORE-RSP")
                    command += data
                    if control & LAST:
                        answer = commands.decode_command(bytes(command))
                        return int(answer.get(commands.STATUS, 0xC000))
        finally:
            self.reader.quick_ack = False

    def release(self) -> None:
        """A-RELEASE (PS3.8 §7.2); an abort if the destination does not answer it."""
        if self._released:
            return
        self._released = True
        try:
            self.sock.sendall(A_RELEASE_RQ_PDU)
            while True:
                pdu_type, _ = self.reader.read()
                if pdu_type in (A_RELEASE_RP, A_ABORT):
                    break
        except (OSError, Abort):
            self.abort()
        finally:
            self.sock.close()

    def abort(self) -> None:
        try:
            self.sock.sendall(a_abort())
        except OSError:
            pass
        finally:
            self._released = True
            self.sock.close()


def _associate_rq(
    calling: str, called: str, proposals: Sequence[tuple[str, list[str]]], max_pdu: int
) -> bytes:
    primitive = A_ASSOCIATE()
    primitive.application_context_name = APPLICATION_CONTEXT
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    contexts = []
    for number, (sop_class, syntaxes) in enumerate(proposals[:MAX_CONTEXTS]):
        context = PresentationContext()
        context.context_id = 2 * number + 1  # odd numbers, PS3.8 §9.3.2.2
        context.abstract_syntax = sop_class
        context.transfer_syntax = list(syntaxes)
        contexts.append(context)
    primitive.presentation_context_definition_list = contexts
    primitive.user_information = user_information(max_pdu)
    rq = A_ASSOCIATE_RQ()
    rq.from_primitive(primitive)
    return bytes(rq.encode())


def _accepted(
    raw: bytes, proposals: Sequence[tuple[str, list[str]]]
) -> tuple[dict[int, tuple[str, str]], int]:
    """The contexts the A-ASSOCIATE-AC accepts (ID -> our abstract syntax and its
    transfer syntax), and the destination's maximum PDU length."""
    ac = A_ASSOCIATE_AC()
    ac.decode(raw)
    answer = ac.to_primitive()
    ours = {2 * n + 1: sop_class for n, (sop_class, _) in enumerate(proposals[:MAX_CONTEXTS])}
    contexts = {
        int(cx.context_id or 0): (ours[int(cx.context_id or 0)], str(cx.transfer_syntax[0]))
        for cx in answer.presentation_context_definition_results_list
        if cx.result == 0x00 and int(cx.context_id or 0) in ours and cx.transfer_syntax
    }
    peer_max_pdu = 0
    for item in answer.user_information:
        if isinstance(item, MaximumLengthNotification):
            peer_max_pdu = int(item.maximum_length_received or 0)
    return contexts, peer_max_pdu
