"""DIMSE command sets and File Meta Information, encoded and decoded on the hot path.

A command set is a flat list of group 0000 elements in implicit VR little endian
(PS3.7 §6.3, Annex E); the File Meta Information a flat list of group 0002 elements in
explicit VR little endian (PS3.10 §7.1). Both are small and fixed in form, so they are
handled here directly rather than through pydicom's general data set machinery, which
costs more than the rest of receiving an instance.
"""

from __future__ import annotations

import struct

# PS3.7 Annex E: the command elements scandepot reads or writes, with how to read them.
AFFECTED_SOP_CLASS_UID = 0x0002
COMMAND_FIELD = 0x0100
MESSAGE_ID = 0x0110
MESSAGE_ID_BEING_RESPONDED_TO = 0x0120
MOVE_DESTINATION = 0x0600
PRIORITY = 0x0700
COMMAND_DATA_SET_TYPE = 0x0800
STATUS = 0x0900
AFFECTED_SOP_INSTANCE_UID = 0x1000
NO_DATA_SET = 0x0101  # Command Data Set Type: no data set follows

_US = {
    COMMAND_FIELD,
    MESSAGE_ID,
    MESSAGE_ID_BEING_RESPONDED_TO,
    PRIORITY,
    COMMAND_DATA_SET_TYPE,
    STATUS,
}
_UI = {AFFECTED_SOP_CLASS_UID, AFFECTED_SOP_INSTANCE_UID, MOVE_DESTINATION}  # text values


class MalformedCommand(ValueError):
    pass


def decode_command(data: bytes) -> dict[int, int | str]:
    """The command elements scandepot uses, by element number (group 0000 implied)."""
    out: dict[int, int | str] = {}
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < 8:
            raise MalformedCommand("truncated command element")
        group, element, length = struct.unpack_from("<HHI", data, offset)
        offset += 8
        if group != 0x0000 or length > end - offset:
            raise MalformedCommand(f"bad command element ({group:04X},{element:04X})")
        value = data[offset : offset + length]
        offset += length
        if element in _US and length == 2:
            out[element] = struct.unpack("<H", value)[0]
        elif element in _UI:
            out[element] = value.rstrip(b"\x00 ").decode("ascii", "replace")
    return out


def _element_ui(element: int, uid: str) -> bytes:
    value = uid.encode("ascii")
    if len(value) % 2:
        value += b"\x00"
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _element_us(element: int, value: int) -> bytes:
    return struct.pack("<HHIH", 0x0000, element, 2, value)


def encode_response(
    command_field: int,
    message_id: int,
    status: int,
    sop_class: str | None,
    sop_instance: str | None,
) -> bytes:
    """A C-xxx-RSP command set without a data set (PS3.7 §9.3)."""
    body = b""
    if sop_class:
        body += _element_ui(AFFECTED_SOP_CLASS_UID, sop_class)
    body += _element_us(COMMAND_FIELD, command_field)
    body += _element_us(MESSAGE_ID_BEING_RESPONDED_TO, message_id)
    body += _element_us(COMMAND_DATA_SET_TYPE, 0x0101)
    body += _element_us(STATUS, status)
    if sop_instance:
        body += _element_ui(AFFECTED_SOP_INSTANCE_UID, sop_instance)
    return struct.pack("<HHII", 0x0000, 0x0000, 4, len(body)) + body


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":
        return struct.pack("<HH2s2xI", 0x0002, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _pad(text: str, pad: bytes) -> bytes:
    value = text.encode("ascii", "replace")
    return value + pad if len(value) % 2 else value


def file_meta(
    sop_class: str,
    sop_instance: str,
    transfer_syntax: str,
    implementation_uid: str,
    implementation_version: str,
    source_ae: str,
) -> bytes:
    """Preamble, 'DICM' and the File Meta Information group (PS3.10 §7.1)."""
    body = (
        _meta_element(0x0001, b"OB", b"\x00\x01")
        + _meta_element(0x0002, b"UI", _pad(sop_class, b"\x00"))
        + _meta_element(0x0003, b"UI", _pad(sop_instance, b"\x00"))
        + _meta_element(0x0010, b"UI", _pad(transfer_syntax, b"\x00"))
        + _meta_element(0x0012, b"UI", _pad(implementation_uid, b"\x00"))
        + _meta_element(0x0013, b"SH", _pad(implementation_version[:16], b" "))
        + _meta_element(0x0016, b"AE", _pad(source_ae[:16], b" "))
    )
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body))
    return b"\x00" * 128 + b"DICM" + group_length + body
