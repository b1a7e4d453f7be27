"""The DIMSE-C service: C-ECHO and C-STORE messages carried by P-DATA (PS3.7 §9).

A message is a command set, then for a C-STORE-RQ a data set, each sent in fragments
(PS3.8 Annex E). The command set is gathered and decoded; the data set's fragments go
to the storage handler as they arrive and are never gathered. The response is sent once
the handler has decided the instance's status (PS3.4 B.2.3), and the handler tidies up
after that, while the sender reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from scandepot.dimse import commands
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


class DimseService:
    """C-ECHO and C-STORE for one association's accepted presentation contexts."""

    def __init__(
        self,
        contexts: dict[int, tuple[str, str]],
        handler: StoreHandler,
        send: Callable[[bytes], None],
    ) -> None:
        self.contexts = contexts  # ID -> (abstract syntax, transfer syntax)
        self.handler = handler
        self.send = send
        self.stored = 0
        self._command = bytearray()
        self._message: dict[int, int | str] | None = None  # awaiting its data set
        self._context_id = 0

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
        else:
            raise Abort(f"unsupported DIMSE command {field_:#06x}")

    def _on_data(self, context_id: int, control: int, data: memoryview) -> None:
        message = self._message
        if message is None or context_id != self._context_id:
            raise Abort("data set fragment without its command")
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
