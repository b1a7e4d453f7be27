"""The receiver's upper layer and DIMSE service, spoken to by pynetdicom in this process
and PDU by PDU over a raw socket.

dcmtk and pynetdicom send only well-formed conversations; the raw socket sends the ones
they never send (PS3.8 §9.3, PS3.7 §9). dcmtk's own senders: test_dimse.py.
"""

from __future__ import annotations

import io
import socket
import struct
from pathlib import Path

from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import MRImageStorage
from sqlalchemy import func, select

from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.dimse import Receiver

MR = "1.2.840.10008.5.1.4.1.1.4"
A_RELEASE_RQ = b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00"
A_RELEASE_RP = b"\x06\x00\x00\x00\x00\x04\x00\x00\x00\x00"
A_ABORT = b"\x07\x00\x00\x00\x00\x04\x00\x00\x02\x00"


def associate_rq(
    called: str = "SCANDEPOT", calling: str = "SCANNER1", abstract_syntax: str = MR
) -> bytes:
    """An A-ASSOCIATE-RQ with one presentation context, ``abstract_syntax`` in Explicit VR
    Little Endian."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    context = PresentationContext()
    context.context_id = 1
    context.abstract_syntax = abstract_syntax
    context.transfer_syntax = [ExplicitVRLittleEndian]
    primitive.presentation_context_definition_list = [context]
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = 16384
    primitive.user_information = [max_length]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def c_store_rq(message_id: int, sop_instance: str) -> bytes:
    def ui(element: int, uid: str) -> bytes:
        value = uid.encode() + (b"\x00" if len(uid) % 2 else b"")
        return struct.pack("<HHI", 0, element, len(value)) + value

    def us(element: int, value: int) -> bytes:
        return struct.pack("<HHIH", 0, element, 2, value)

    body = ui(0x0002, MR) + us(0x0100, 0x0001) + us(0x0110, message_id) + us(0x0800, 0)
    body += ui(0x1000, sop_instance)
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


def p_data(control: int, data: bytes) -> bytes:
    pdv = struct.pack(">IBB", len(data) + 2, 1, control) + data
    return struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv


def data_set(study: Study, number: int) -> tuple[str, bytes]:
    """An instance's UID and its data set in explicit VR little endian, without File Meta."""
    ds = mr_instance(study, Series(1, "T1w"), number, rows=16, columns=16)
    buffer = io.BytesIO()
    ds.save_as(buffer, implicit_vr=False, little_endian=True)  # what the context carries
    return str(ds.SOPInstanceUID), buffer.getvalue()


def read_pdu(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < 6 or len(data) < 6 + struct.unpack(">I", data[2:6])[0]:
        got = sock.recv(65536)
        assert got, f"connection closed after {data.hex()}"
        data += got
    return data


def instances(ctx: Context) -> int:
    with ctx.db.read() as db:
        return db.scalar(select(func.count(Instance.id))) or 0


def status_of(c_store_rsp: bytes) -> int:
    at = c_store_rsp.index(struct.pack("<HHI", 0, 0x0900, 2))
    return int(struct.unpack_from("<H", c_store_rsp, at + 8)[0])


def test_a_c_store_cut_short_by_the_next_leaves_no_temporary_file(
    ctx: Context, receiver: Receiver
) -> None:
    study = Study()
    first, first_data = data_set(study, 1)
    second, second_data = data_set(study, 2)
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(associate_rq())
        assert read_pdu(sock)[0] == 0x02  # A-ASSOCIATE-AC
        sock.sendall(p_data(0x03, c_store_rq(1, first)) + p_data(0x00, first_data[:200]))
        sock.sendall(p_data(0x03, c_store_rq(2, second)) + p_data(0x02, second_data))
        assert status_of(read_pdu(sock)) == 0x0000
        sock.sendall(A_RELEASE_RQ)
        assert read_pdu(sock) == A_RELEASE_RP
    with ctx.db.read() as db:
        assert db.scalars(select(Instance.SOPInstanceUID)).all() == [second]
    assert [p for p in ctx.store.tmp.iterdir() if p.is_file()] == []


def test_a_data_set_fragment_without_its_command_aborts(ctx: Context, receiver: Receiver) -> None:
    _, data = data_set(Study(), 1)
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(associate_rq())
        assert read_pdu(sock)[0] == 0x02
        sock.sendall(p_data(0x02, data))
        assert read_pdu(sock) == A_ABORT
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Instance.id))) == 0


def test_an_unknown_called_ae_title_is_rejected(receiver: Receiver) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(associate_rq(called="NOBODY"))
        # A-ASSOCIATE-RJ: rejected permanent, by the service user, called AE title unknown
        assert read_pdu(sock) == b"\x03\x00\x00\x00\x00\x04\x00\x01\x01\x07"


def test_bad_instances_fail_and_the_association_goes_on(ctx: Context, receiver: Receiver) -> None:
    study, series = Study(), Series(1, "T1w")
    good = mr_instance(study, series, 1, rows=16, columns=16)
    no_study = mr_instance(study, series, 2, rows=16, columns=16)
    del no_study.StudyInstanceUID
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(MRImageStorage)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
    assert assoc.is_established
    failed = assoc.send_c_store(no_study)
    ok = assoc.send_c_store(good)
    assoc.release()
    assert failed.Status == 0xC000
    assert ok.Status == 0x0000
    assert instances(ctx) == 1
    assert list(ctx.store.tmp.iterdir()) == []


def test_garbage_in_a_data_set_is_refused(ctx: Context, receiver: Receiver, tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    ds = mr_instance(Study(), Series(), 1, rows=16, columns=16)
    ds.save_as(junk, enforce_file_format=True)
    raw = junk.read_bytes()
    junk.write_bytes(raw[:400])  # cut in the middle of the header
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
    from pynetdicom import _config

    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        status = assoc.send_c_store(junk)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False
        assoc.release()
    assert status.Status in (0xC000, 0xA900) or status == ""  # refused, never stored
    assert instances(ctx) == 0
    assert list(ctx.store.tmp.iterdir()) == []
