"""TLS to a DICOMweb destination: a certificate the system does not trust is refused with
the reason; the destination's CA bundle makes it trusted; a server that asks for a client
certificate gets the destination's. The server is a small HTTPS server with certificates
of the test's own CAs (trustme)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from scandepot.errors import Invalid
from scandepot.push import destinations
from scandepot.push.destinations import DestinationCreate
from scandepot.push.http_peer import HttpPeer
from scandepot.push.sending import Unreachable
from scandepot.push.stow import StowSender
from tests.push.outgoing import study_batch
from tests.push.peers import Peer, http_peer


def stow_answer(
    method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """A DICOMweb root that stores whatever it is sent and holds nothing."""
    if method == "GET":
        return 200, {"Content-Type": "application/dicom+json"}, b"[]"
    return 200, {"Content-Type": "application/dicom+json"}, json.dumps({}).encode()


@pytest.fixture
def server_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(server_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    server_ca.cert_pem.write_to_path(str(path))
    return str(path)


def tls_server(server_ca: trustme.CA, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(context)
    return context


@pytest.fixture
def https(server_ca: trustme.CA) -> Iterator[Peer]:
    with http_peer(stow_answer, tls_server(server_ca)) as peer:
        yield peer


def test_an_untrusted_certificate_is_refused_with_the_reason(https: Peer) -> None:
    sender = StowSender(HttpPeer(url=https.url))
    try:
        with pytest.raises(Invalid, match="TLS certificate not trusted: .*unable to get local"):
            sender.check()
        with pytest.raises(Unreachable, match="TLS certificate not trusted"):
            sender.send(study_batch(1))
    finally:
        sender.close()
    assert not any(method == "POST" for method, _, _ in https.seen)


def test_the_destinations_ca_bundle_makes_it_trusted(https: Peer, ca_file: str) -> None:
    sender = StowSender(HttpPeer(url=https.url, ca_bundle=ca_file))
    try:
        sender.check()
        assert all(s.stored for s in sender.send(study_batch(2)))
    finally:
        sender.close()
    unchecked = StowSender(HttpPeer(url=https.url, verify_tls=False))
    try:
        unchecked.check()
    finally:
        unchecked.close()


def test_a_client_certificate_when_the_server_asks_for_one(
    server_ca: trustme.CA, ca_file: str, tmp_path: Path
) -> None:
    client_ca = trustme.CA()
    issued = client_ca.issue_cert("pusher.example.org")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    with http_peer(stow_answer, tls_server(server_ca, client_ca)) as peer:
        without = StowSender(HttpPeer(url=peer.url, ca_bundle=ca_file))
        try:
            with pytest.raises((Invalid, Unreachable), match="TLS|certificate"):
                without.check()
        finally:
            without.close()
        peer_with = HttpPeer(
            url=peer.url, ca_bundle=ca_file, client_cert=str(cert), client_key=str(key)
        )
        sender = StowSender(peer_with)
        try:
            sender.check()
            assert all(s.stored for s in sender.send(study_batch(1)))
        finally:
            sender.close()


def test_checking_a_destination_with_its_ca_bundle(ctx: Context, https: Peer, ca_file: str) -> None:
    destinations.add(ctx, SYSTEM, DestinationCreate(name="plain", kind="dicomweb", url=https.url))
    checked = destinations.check(ctx, SYSTEM, "plain")
    assert not checked.ok and "TLS certificate not trusted" in checked.reason
    destinations.add(
        ctx,
        SYSTEM,
        DestinationCreate(name="trusted", kind="dicomweb", url=https.url, ca_bundle=ca_file),
    )
    assert destinations.check(ctx, SYSTEM, "trusted").ok


def test_a_ca_bundle_that_is_not_pem_is_refused(ctx: Context, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(Invalid, match="TLS files of the destination cannot be used"):
        destinations.add(
            ctx,
            SYSTEM,
            DestinationCreate(
                name="junk", kind="dicomweb", url="https://n.example/", ca_bundle=str(junk)
            ),
        )
