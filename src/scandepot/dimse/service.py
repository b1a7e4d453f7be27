"""The DIMSE-C service: the messages carried by P-DATA (PS3.7 §9).

A message is a command set, then for a C-STORE-RQ a data set, each sent in fragments
(PS3.8 Annex E). The command set is gathered and decoded; the data set's fragments go
to the storage handler as they arrive and are never gathered. The response is sent once
the handler has decided the instance's status (PS3.4 B.2.3), and the handler tidies up
after that, while the sender reads it.

C-FIND, C-GET and C-MOVE requests (when the association has query/retrieve) have their
identifier gathered (it is small), then start an operation (qr.py) that the association
runs step by step between reads; C-CANCEL and the C-STORE-RSPs of a C-GET's
sub-operations go to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from scandepot.dimse import commands, find, get, move, qr
from scandepot.dimse.messages import C_CANCEL_RQ, C_FIND_RQ, C_GET_RQ, C_MOVE_RQ
from scandepot.dimse.models import QUERY_RETRIEVE, Operation
from scandepot.dimse.pdu import COMMAND, LAST, Abort, p_data_command, pdvs

# DIMSE command fields, PS3.7 Table E.1-1
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_ECHO_RQ, C_ECHO_RSP = 0x0030, 0x8030

# C-STORE statuses, PS3.4 Annex B.2.3
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000


class StoreHandler(Protocol):
    """Where a C-STORE's instance goes: one instance at a time, for one association."""

    def begin(self, sop_class: str, sop_instance: str, transfer_syntax: str) -> None:
        """A C-STORE-RQ arrived; its data set follows."""

    def chunk(self, data: memoryview) -> None:
        """The next fragment of the data set, valid only during the call."""

    def end(self) -> int:
        """The data set is complete: keep the instance and say how it went (a status)."""

    def tidy(self) -> None:
        """The response is sent: clean up, and prepare for the next instance."""

    def close(self) -> None:
        """The association is over: leave nothing behind."""


_RUN = {Operation.FIND: find.run, Operation.GET: get.run, Operation.MOVE: move.run}
_QUERY_RETRIEVE_RQ = (C_FIND_RQ, C_GET_RQ, C_MOVE_RQ)


class DimseService:
    """The DIMSE-C services of one association's accepted presentation contexts."""

    def __init__(
        self,
        contexts: dict[int, tuple[str, str]],
        handler: StoreHandler,
        send: Callable[[bytes], None],
        query_retrieve: qr.QueryRetrieve | None = None,
    ) -> None:
        self.contexts = contexts  # ID -> (abstract syntax, transfer syntax)
        self.handler = handler
        self.send = send
        self.qr = query_retrieve
        self.stored = 0
        self._command = bytearray()
        self._message: dict[int, int | str] | None = None  # awaiting its data set
        self._context_id = 0
        self._identifier: bytearray | None = None  # a query/retrieve request's, gathering
        self._operation: qr.Steps | None = None
        self._waiting = False  # the operation waits for a C-STORE-RSP

    @property
    def runnable(self) -> bool:
        """An operation is in progress and can take its next step."""
        return self._operation is not None and not self._waiting

    @property
    def waiting(self) -> bool:
        """The operation waits for the peer's C-STORE-RSP."""
        return self._operation is not None and self._waiting

    def step(self) -> None:
        """The operation's next step: a response sent, or a sub-operation."""
        assert self._operation is not None
        try:
            self._waiting = next(self._operation) is qr.Wait.REPLY
        except StopIteration:
            self._operation, self._waiting = None, False

    def receive(self, body: memoryview) -> None:
        """Take in the fragments of one P-DATA-TF PDU's body."""
        for context_id, control, data in pdvs(body):
            if control & COMMAND:
                self._command += data
                if control & LAST:
                    self._on_command(context_id)
            else:
                self._on_data(context_id, control, data)

    def close(self) -> None:
        if self._operation is not None:
            self._operation.close()
            self._operation = None
        self.handler.close()

    def _on_command(self, context_id: int) -> None:
        try:
            message = commands.decode_command(bytes(self._command))
        except commands.MalformedCommand as exc:
            raise Abort(str(exc)) from None
        self._command.clear()
        self._message, self._context_id = message, context_id
        field_ = int(message.get(commands.COMMAND_FIELD, 0))
        if field_ == C_ECHO_RQ:  # PS3.7 §9.1.5
            self._respond(context_id, message, C_ECHO_RSP, SUCCESS)
            self._message = None
        elif field_ == C_STORE_RQ:  # PS3.7 §9.1.1
            if context_id not in self.contexts:
                raise Abort(f"C-STORE on unaccepted context {context_id}")
            abstract, syntax = self.contexts[context_id]
            self.handler.begin(
                str(message.get(commands.AFFECTED_SOP_CLASS_UID, abstract)),
                str(message.get(commands.AFFECTED_SOP_INSTANCE_UID, "")),
                syntax,
            )
        elif field_ in _QUERY_RETRIEVE_RQ or field_ in (C_CANCEL_RQ, C_STORE_RSP):
            self._on_query_retrieve(context_id, message, field_)
        else:
            raise Abort(f"unsupported DIMSE command {field_:#06x}")

    def _on_query_retrieve(
        self, context_id: int, message: dict[int, int | str], field_: int
    ) -> None:
        if self.qr is None:
            raise Abort(f"DIMSE command {field_:#06x} without query/retrieve")
        if field_ == C_CANCEL_RQ:  # PS3.7 §9.3.2.3
            self.qr.cancel(int(message.get(commands.MESSAGE_ID_BEING_RESPONDED_TO, 0)))
            self._message = None
        elif field_ == C_STORE_RSP:  # a C-GET sub-operation's, PS3.7 §9.3.1.2
            if not self._waiting:
                raise Abort("C-STORE-RSP to no request of ours")
            self.qr.reply = int(message.get(commands.STATUS, 0xC000))
            self._waiting, self._message = False, None
        elif self._operation is not None:
            raise Abort("a request before the last one was answered")
        elif context_id not in self.contexts or self.contexts[context_id][0] not in QUERY_RETRIEVE:
            raise Abort(f"query/retrieve request on context {context_id}")
        else:
            self._identifier = bytearray()  # PS3.7 §9.1.2-9.1.4: an identifier follows

    def _on_identifier(self, message: dict[int, int | str], control: int, data: memoryview) -> None:
        assert self._identifier is not None and self.qr is not None
        self._identifier += data
        if len(self._identifier) > qr.MAX_IDENTIFIER:
            raise Abort("query/retrieve identifier too large")
        if not control & LAST:
            return
        identifier = bytes(self._identifier)
        request, refusal = qr.parse(self.contexts, self._context_id, message, identifier)
        self._identifier, self._message = None, None
        if refusal is not None:
            self.qr.respond(request, refusal.status, comment=refusal.comment)
            return
        self.qr.begin(request)
        self._operation = _RUN[request.model.operation](self.qr, request)

    def _on_data(self, context_id: int, control: int, data: memoryview) -> None:
        message = self._message
        if message is None or context_id != self._context_id:
            raise Abort("data set fragment without its command")
        if self._identifier is not None:
            self._on_identifier(message, control, data)
            return
        self.handler.chunk(data)
        if control & LAST:  # the instance is complete: file it, then answer
            status = self.handler.end()
            if status == SUCCESS:
                self.stored += 1
            self._respond(context_id, message, C_STORE_RSP, status)
            self._message = None
            self.handler.tidy()  # while the sender reads the response

    def _respond(
        self, context_id: int, request: dict[int, int | str], field_: int, status: int
    ) -> None:
        """A response on the request's context, without a data set (PS3.7 §9.3)."""
        sop_class = request.get(commands.AFFECTED_SOP_CLASS_UID)
        sop_instance = request.get(commands.AFFECTED_SOP_INSTANCE_UID)
        rsp = commands.encode_response(
            field_,
            int(request.get(commands.MESSAGE_ID, 0)),
            status,
            str(sop_class) if sop_class else None,
            str(sop_instance) if sop_instance else None,
        )
        self.send(p_data_command(context_id, rsp))
