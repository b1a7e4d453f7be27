"""The messages of query/retrieve, encoded with pydicom: responses that carry counts,
comments or an identifier, C-STORE requests of a C-GET, and data sets in P-DATA
fragments no longer than the peer takes (PS3.7 §9.3, PS3.8 Annex E).

Unlike C-STORE's, these are not on a hot path: a command set is built as a pydicom data
set, which knows every command element and its VR.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO

from pydicom import Dataset
from pydicom.uid import UID
from pynetdicom.dsutils import decode, encode

from scandepot.dimse.commands import NO_DATA_SET
from scandepot.dimse.pdu import COMMAND, LAST, P_DATA_TF
from scandepot.dimse.pdu import encode as encode_pdu

# DIMSE command fields, PS3.7 Table E.1-1
C_STORE_RQ, C_STORE_RSP = 0x0001, 0x8001
C_GET_RQ, C_GET_RSP = 0x0010, 0x8010
C_FIND_RQ, C_FIND_RSP = 0x0020, 0x8020
C_MOVE_RQ, C_MOVE_RSP = 0x0021, 0x8021
C_CANCEL_RQ = 0x0FFF
RESPONSE_OF = {C_FIND_RQ: C_FIND_RSP, C_GET_RQ: C_GET_RSP, C_MOVE_RQ: C_MOVE_RSP}

MEDIUM = 0x0000  # Priority
_CHUNK_WITHOUT_LIMIT = 1 << 20  # fragment size when the peer sets no maximum PDU length


@dataclass(frozen=True)
class Counts:
    """Sub-operations of a C-GET or C-MOVE (PS3.7 C.4.2.1.7-10)."""

    remaining: int | None
    completed: int
    failed: int
    warning: int


def command_set(elements: Dataset) -> bytes:
    """A command set in implicit VR little endian with its group length (PS3.7 §6.3.1)."""
    body = encode(elements, True, True)
    assert body is not None
    return struct.pack("<HHII", 0x0000, 0x0000, 4, len(body)) + body


def response(
    field: int,
    message_id: int,
    sop_class: str,
    status: int,
    *,
    has_data: bool = False,
    counts: Counts | None = None,
    comment: str | None = None,
) -> bytes:
    """A C-FIND, C-GET or C-MOVE response (PS3.7 §9.3.2-9.3.4)."""
    ds = Dataset()
    ds.AffectedSOPClassUID = sop_class
    ds.CommandField = field
    ds.MessageIDBeingRespondedTo = message_id
    ds.CommandDataSetType = 0x0000 if has_data else NO_DATA_SET
    ds.Status = status
    if comment:
        ds.ErrorComment = comment[:64]
    if counts is not None:
        if counts.remaining is not None:
            ds.NumberOfRemainingSuboperations = counts.remaining
        ds.NumberOfCompletedSuboperations = counts.completed
        ds.NumberOfFailedSuboperations = counts.failed
        ds.NumberOfWarningSuboperations = counts.warning
    return command_set(ds)


def c_store_rq(
    message_id: int,
    sop_class: str,
    sop_instance: str,
    originator: tuple[str, int] | None = None,
) -> bytes:
    """A C-STORE request, its data set to follow (PS3.7 §9.3.1.1)."""
    ds = Dataset()
    ds.AffectedSOPClassUID = sop_class
    ds.CommandField = C_STORE_RQ
    ds.MessageID = message_id
    ds.Priority = MEDIUM
    ds.CommandDataSetType = 0x0000
    ds.AffectedSOPInstanceUID = sop_instance
    if originator is not None:
        ds.MoveOriginatorApplicationEntityTitle, ds.MoveOriginatorMessageID = originator
    return command_set(ds)


def encode_data_set(ds: Dataset, syntax: str) -> bytes:
    """``ds`` encoded as the presentation context's transfer syntax says."""
    uid = UID(syntax)
    data = encode(ds, uid.is_implicit_VR, uid.is_little_endian, uid.is_deflated)
    if data is None:
        raise ValueError(f"cannot encode the data set in {syntax}")
    return data


def decode_data_set(data: bytes, syntax: str) -> Dataset:
    uid = UID(syntax)
    return decode(BytesIO(data), uid.is_implicit_VR, uid.is_little_endian, uid.is_deflated)


def send_message(
    send: Callable[[bytes], None],
    context_id: int,
    command: bytes,
    data: BinaryIO | None,
    max_pdu: int,
) -> None:
    """A whole message: its command set, then its data set's fragments as read."""
    for fragment in _fragments(BytesIO(command), max_pdu):
        send(_p_data(context_id, COMMAND, fragment))
    if data is not None:
        for fragment in _fragments(data, max_pdu):
            send(_p_data(context_id, 0, fragment))


def _p_data(context_id: int, control: int, fragment: tuple[bytes, bool]) -> bytes:
    data, last = fragment
    flags = control | (LAST if last else 0)
    return encode_pdu(P_DATA_TF, struct.pack(">IBB", len(data) + 2, context_id, flags) + data)


def _fragments(source: BinaryIO, max_pdu: int) -> Iterator[tuple[bytes, bool]]:
    """Pieces of ``source`` that fit one PDV in a PDU of ``max_pdu`` (PS3.8 §9.3.5), each
    with whether it is the last; one read ahead, so that the last is known."""
    size = max_pdu - 6 if max_pdu else _CHUNK_WITHOUT_LIMIT
    current = source.read(size)
    while True:
        following = source.read(size)
        yield current, not following
        if not following:
            return
        current = following
