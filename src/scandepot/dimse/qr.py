"""One association's query/retrieve: the peer's view of the archive, the request being
served, and what its operation waits for.

An operation (find, get, move) is a generator run by the association's thread between
reads: it yields ``READY`` after each response it sent (the association then reads a
C-CANCEL if one came) and ``REPLY`` when it waits for the peer's C-STORE-RSP of a C-GET
sub-operation. One operation at a time: scandepot negotiates no asynchronous operations
window (PS3.7 D.3.3.3), so a peer sends its next request after the last response.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from io import BytesIO

from pydicom import Dataset

from scandepot.context import Context
from scandepot.dimse import commands, messages
from scandepot.dimse.messages import Counts
from scandepot.dimse.models import QUERY_RETRIEVE, Model, Operation
from scandepot.errors import ScandepotError
from scandepot.query.attributes import Level
from scandepot.query.scope import Scope
from scandepot.retrieve.lenient import lenient

log = logging.getLogger("scandepot.dicom")

# Statuses, PS3.4 C.4.1.1.4 (C-FIND), C.4.2.1.5 (C-MOVE), C.4.3.1.4 (C-GET)
SUCCESS = 0x0000
PENDING = 0xFF00
CANCELLED = 0xFE00
SUB_OPERATIONS_FAILED = 0xB000  # warning: sub-operations complete, some failed
UNABLE_TO_PERFORM = 0xA702  # refused: out of resources, unable to perform sub-operations
UNKNOWN_DESTINATION = 0xA801  # refused: move destination unknown
IDENTIFIER_MISMATCH = 0xA900  # error: identifier does not match SOP class
UNABLE_TO_PROCESS = 0xC000  # failed: unable to process

MAX_IDENTIFIER = 1 << 20  # an identifier is small; a larger one is a sender's error


def failure_status(exc: ScandepotError) -> int:
    """The status of a request the services refused: a key they cannot read (a bad
    value, a key not matched on, a unique key missing: HTTP's 400 and 422) is the
    identifier's fault; anything else, theirs."""
    return IDENTIFIER_MISMATCH if exc.status in (400, 422) else UNABLE_TO_PROCESS


class Wait(enum.Enum):
    READY = "ready"  # the operation can go on; the association looks for a C-CANCEL first
    REPLY = "reply"  # the operation waits for the peer's C-STORE-RSP


Steps = Generator[Wait, None, None]  # an operation in progress


class Refusal(Exception):
    """A request the operation cannot serve: its status and a comment for the peer."""

    def __init__(self, status: int, comment: str) -> None:
        super().__init__(comment)
        self.status = status
        self.comment = comment


@dataclass
class Request:
    """A C-FIND, C-GET or C-MOVE request with its identifier, decoded."""

    context_id: int
    message_id: int
    sop_class: str
    model: Model
    syntax: str  # the transfer syntax of the request's presentation context
    identifier: Dataset
    level: Level
    move_destination: str = ""


@dataclass
class QueryRetrieve:
    """One association's query/retrieve state, and how to reach the peer."""

    ctx: Context
    scope: Scope
    ae_title: str  # ours: the calling AE of a C-MOVE's association, the Retrieve AE Title
    calling_ae: str
    contexts: dict[int, tuple[str, str]]  # ID -> (abstract syntax, transfer syntax)
    scp_roles: frozenset[str]  # storage classes the peer takes C-STOREs of
    peer_max_pdu: int
    send: Callable[[bytes], None]
    find_limit: int = 0  # most matches a C-FIND answers; 0: no limit
    timeout_s: float = 60.0  # how long a C-MOVE destination may keep us waiting
    cancelled: bool = False
    reply: int | None = None  # the status of the C-STORE-RSP awaited, once it came
    _message_id: int = 0
    _current: Request | None = field(default=None, repr=False)

    def next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def begin(self, request: Request) -> None:
        self._current, self.cancelled, self.reply = request, False, None

    def cancel(self, message_id: int) -> None:
        """A C-CANCEL-RQ: honoured if it names the request being served (PS3.7 9.3.2.3)."""
        if self._current is not None and self._current.message_id == message_id:
            self.cancelled = True

    def respond(
        self,
        request: Request,
        status: int,
        *,
        identifier: Dataset | None = None,
        counts: Counts | None = None,
        comment: str | None = None,
    ) -> None:
        data = None
        if identifier is not None:
            with lenient():  # values as the archive holds them, as scanners wrote them
                data = messages.encode_data_set(identifier, request.syntax)
        command = messages.response(
            messages.RESPONSE_OF[_REQUEST_FIELD[request.model.operation]],
            request.message_id,
            request.sop_class,
            status,
            has_data=data is not None,
            counts=counts,
            comment=comment,
        )
        body = BytesIO(data) if data is not None else None
        messages.send_message(self.send, request.context_id, command, body, self.peer_max_pdu)


_REQUEST_FIELD = {
    Operation.FIND: messages.C_FIND_RQ,
    Operation.GET: messages.C_GET_RQ,
    Operation.MOVE: messages.C_MOVE_RQ,
}


def parse(
    contexts: dict[int, tuple[str, str]],
    context_id: int,
    command: dict[int, int | str],
    identifier: bytes,
) -> tuple[Request, Refusal | None]:
    """The request, and why it cannot be served if it cannot (PS3.4 C.4.1.1.3, C.4.2.1.4,
    C.4.3.1.3): an identifier that cannot be decoded, or without a level of the model."""
    abstract, syntax = contexts[context_id]
    model = QUERY_RETRIEVE[abstract]
    request = Request(
        context_id,
        int(command.get(commands.MESSAGE_ID, 0)),
        str(command.get(commands.AFFECTED_SOP_CLASS_UID, abstract)),
        model,
        syntax,
        Dataset(),
        Level.STUDY,
        str(command.get(commands.MOVE_DESTINATION, "")).strip(),
    )
    try:
        with lenient():  # a value out of its VR's rules is for the services to judge
            request.identifier = messages.decode_data_set(identifier, syntax)
            for element in request.identifier:  # every value decoded now, not halfway
                _ = element.value
        word = str(request.identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    except Exception as exc:  # pydicom raises many kinds for a broken data set
        log.warning("undecodable %s identifier: %s", model.operation, exc)
        return request, Refusal(UNABLE_TO_PROCESS, "identifier cannot be decoded")
    levels = {level.value: level for level in model.levels}
    if word not in levels:
        comment = f"QueryRetrieveLevel {word or '(none)'} is not one of {', '.join(levels)}"
        return request, Refusal(IDENTIFIER_MISMATCH, comment)
    request.level = levels[word]
    return request, None
