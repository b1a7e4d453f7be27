"""A DICOM peer that takes the connection but not the association: the sender says what
it did, from the bytes a real peer sends (an A-ABORT PDU of PS3.8 9.3.8 from its user or
its service provider, the connection closed, or nothing at all)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from scandepot.push.dimse import DimsePeer, DimseSender
from scandepot.push.sending import Unreachable
from tests.ingest.test_dimse_wire import read_pdu
from tests.push.outgoing import study_batch


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[int]:
    """A port whose server reads each A-ASSOCIATE-RQ and then does ``request.param``:
    ``("abort", source, reason)``, ``"close"`` or ``"silent"``."""
    behaviour = request.param
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if not conn.recv(1, socket.MSG_PEEK):
                continue  # the sender's first, plain connection: opened and closed
            read_pdu(conn)  # the A-ASSOCIATE-RQ
            if behaviour == "silent":
                continue
            if behaviour != "close":
                _, source, reason = behaviour
                conn.sendall(struct.pack(">BBIBBBB", 0x07, 0, 4, 0, 0, source, reason))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize(
    ("peer", "said"),
    [
        (("abort", 0, 0), r"aborted the association \(its service user\)"),
        (("abort", 2, 2), r"aborted the association \(its service provider: unexpected PDU\)"),
        ("close", "closed the connection without answering the association request"),
        ("silent", "did not answer the association request within 1 s"),
    ],
    indirect=["peer"],
)
def test_what_the_peer_did_is_said(peer: int, said: str) -> None:
    sender = DimseSender(DimsePeer("FAR", "127.0.0.1", peer, "PUSHER", timeout_s=1))
    with pytest.raises(Unreachable, match=f"FAR@127.0.0.1:{peer} {said}"):
        sender.send(study_batch(1))
