"""The DICOM upper layer's protocol data units, read from and written to a socket.

PS3.8 §9.3: each PDU is a type byte, a reserved byte and a 32-bit big-endian length,
then its body. A P-DATA-TF body is a run of presentation data value items (PS3.8
§9.3.5), each with its own length, presentation context ID and message control header
(PS3.8 Annex E.2). PDUs are read into buffers reused from one PDU to the next, so that
an instance's bytes go from the socket to its file without a copy of their own.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

from pynetdicom.pdu import A_ABORT_RQ

# PDU types, PS3.8 Table 9-11
A_ASSOCIATE_RQ = 0x01
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

# Message control header bits, PS3.8 Annex E.2
COMMAND = 0x01  # the fragment is of a command set (else of a data set)
LAST = 0x02  # the fragment is its message part's last

_PDU_HEAD = struct.Struct(">BBI")
_PDV_LENGTH = struct.Struct(">I")
_PDV_HEAD = struct.Struct(">IBB")
# Any PDU but P-DATA-TF is small: a longer one is a sender's error or an attack.
_OTHER_PDU_LIMIT = 1 << 20
_QUICK_ACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class Abort(Exception):
    """End the association with an A-ABORT (PS3.8 §7.3.1)."""


def encode(pdu_type: int, body: bytes) -> bytes:
    return _PDU_HEAD.pack(pdu_type, 0, len(body)) + body


def p_data_command(context_id: int, command: bytes) -> bytes:
    """A P-DATA-TF holding a whole command set in one fragment (PS3.8 §9.3.5)."""
    pdv = _PDV_HEAD.pack(len(command) + 2, context_id, COMMAND | LAST) + command
    return encode(P_DATA_TF, pdv)


A_RELEASE_RP_PDU = encode(A_RELEASE_RP, b"\x00" * 4)  # PS3.8 §9.3.7


def a_abort() -> bytes:
    """An A-ABORT from the service provider, no reason given (PS3.8 §9.3.8)."""
    pdu = A_ABORT_RQ()
    pdu.source = 0x02
    pdu.reason_diagnostic = 0x00
    return bytes(pdu.encode())


def pdvs(body: memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """A P-DATA-TF body's items as (presentation context ID, control header, fragment)."""
    view = body
    while view:
        if len(view) < 6:
            raise Abort("truncated presentation data value item")
        (item_length,) = _PDV_LENGTH.unpack_from(view)
        if item_length < 2 or item_length > len(view) - 4:
            raise Abort("malformed presentation data value item")
        yield view[4], view[5], view[6 : 4 + item_length]
        view = view[4 + item_length :]


class PduReader:
    """Reads whole PDUs from a socket into buffers kept for the next PDU."""

    def __init__(self, sock: socket.socket, max_pdu: int) -> None:
        self.sock = sock
        self.max_pdu = max_pdu  # the maximum length we announced; 0 for none
        self._head = bytearray(6)
        self._head_view = memoryview(self._head)
        self._body = bytearray(max_pdu or 65536)
        # Acknowledge each segment at once while set: a peer that writes a small PDU in
        # pieces without TCP_NODELAY (dcmtk's default; a C-STORE-RSP of a C-GET) holds
        # each piece until the one before is acknowledged, 40 ms a delayed ACK.
        self.quick_ack = False

    def _read_into(self, view: memoryview) -> None:
        got, n = 0, len(view)
        while got < n:
            if self.quick_ack and _QUICK_ACK is not None:  # Linux; the kernel clears it
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICK_ACK, 1)
            chunk = self.sock.recv_into(view[got:], n - got)
            if chunk == 0:
                raise ConnectionError("peer closed the connection")
            got += chunk

    def read(self) -> tuple[int, memoryview]:
        """The next PDU's type and body, in a buffer reused for the next PDU."""
        self._read_into(self._head_view)
        pdu_type, _, length = _PDU_HEAD.unpack(self._head)
        limit = self.max_pdu
        if pdu_type == P_DATA_TF and limit and length > limit + 6:
            raise Abort(f"P-DATA-TF of {length} bytes exceeds the maximum of {limit}")
        if pdu_type != P_DATA_TF and length > _OTHER_PDU_LIMIT:
            raise Abort(f"PDU of type {pdu_type:#x} with an implausible length {length}")
        if length > len(self._body):
            self._body = bytearray(length)
        body = memoryview(self._body)[:length]
        self._read_into(body)
        return pdu_type, body

    def whole(self, body: memoryview) -> bytes:
        """The PDU just read, head and body, as sent."""
        return bytes(self._head) + bytes(body)
