"""A file that vanishes or changes while an archive is sent ends the response without the
archive's closing records: the client gets an error, never a cut archive that looks whole."""

from __future__ import annotations

import base64
import datetime as dt
import io
import socket
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from scandepot.export import downloads
from scandepot.export.archives import Format, Member, Opened, SourceChanged, stream
from tests.conftest import LiveServer
from tests.helpers import ADMIN, API

NOW = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
BIG = 40  # files of 1 MiB: more than socket buffers hold, so the server is mid-stream


def members(tmp_path: Path, count: int = 3) -> list[Member]:
    found = []
    for i in range(count):
        path = tmp_path / f"{i}.bin"
        body = bytes([i]) * 5000
        path.write_bytes(body)
        found.append(Member(f"d/{i}.bin", len(body), NOW, str(path)))
    return found


def collect(fmt: Format, items: list[Member], started_ns: int) -> tuple[bytes, Exception | None]:
    out = bytearray()
    try:
        for chunk in stream(fmt, items, started_ns):
            out += chunk
    except SourceChanged as exc:
        return bytes(out), exc
    return bytes(out), None


@pytest.mark.parametrize("fmt", list(Format))
@pytest.mark.parametrize("damage", ["deleted", "replaced", "grown", "shrunk"])
def test_writer_stops_before_the_end_records(tmp_path: Path, fmt: Format, damage: str) -> None:
    items = members(tmp_path)
    started = time.time_ns()
    whole, error = collect(fmt, items, started)
    assert error is None
    assert items[1].path is not None
    target = Path(items[1].path)
    # File times come from a clock that ticks every few milliseconds: a change within the
    # same tick as the start can look older. Real changes (an archive, a relabel) take
    # longer than that to follow a download's start.
    time.sleep(0.05)
    if damage == "deleted":
        target.unlink()
    elif damage == "replaced":
        target.write_bytes(b"\x09" * 5000)
    elif damage == "grown":
        target.write_bytes(bytes([1]) * 5001)
    else:
        target.write_bytes(bytes([1]) * 4999)
    cut, error = collect(fmt, items, started)
    assert isinstance(error, SourceChanged)
    assert len(cut) < len(whole)
    # The readers refuse what was sent before the error.
    if fmt is Format.ZIP:
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(io.BytesIO(cut))
    elif fmt is Format.TAR_GZ:
        with pytest.raises((EOFError, zlib.error, tarfile.ReadError)):
            with tarfile.open(fileobj=io.BytesIO(cut), mode="r:gz") as t:
                t.getmembers()
    else:
        # A tar has no index: what tells the cut is the missing end-of-archive blocks (and,
        # on the wire, the missing end of the response).
        assert not cut.endswith(b"\0" * 1024)


@pytest.fixture
def big_session(client: TestClient, users: object) -> None:
    assert client.post(f"{API}/projects", json={"id": "P1"}, auth=ADMIN).status_code == 201
    base = f"{API}/projects/P1"
    client.post(f"{base}/subjects", json={"label": "S1"}, auth=ADMIN)
    client.post(f"{base}/sessions", json={"label": "E1", "subject": "S1"}, auth=ADMIN)
    client.post(f"{base}/sessions/E1/scans", json={"id": "1"}, auth=ADMIN)
    chunk = b"\xab" * (1024 * 1024)
    for i in range(BIG):
        url = f"{base}/sessions/E1/scans/1/resources/DICOM/files/{i:03d}.dcm"
        assert client.put(url, content=chunk, auth=ADMIN).status_code == 201


@pytest.mark.parametrize("fmt", ["zip", "tar"])
@pytest.mark.parametrize("change", ["delete", "relabel"])
def test_session_deleted_or_moved_mid_download(
    client: TestClient,
    big_session: None,
    live_server: LiveServer,
    fmt: str,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A tar's files are opened a batch ahead of the one on the wire; a file already open is
    # sent as it was when the download began. Batches of two files leave most of these 40
    # unopened when the session goes.
    monkeypatch.setattr(downloads, "BATCH_FILES", 2)
    url = f"{live_server.url}{API}/projects/P1/sessions/E1/download?format={fmt}"
    received = 0
    with httpx.Client(timeout=30) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            with http.stream("GET", url, auth=ADMIN) as r:
                assert r.status_code == 200
                for chunk in r.iter_raw(64 * 1024):
                    if received == 0:
                        if change == "delete":
                            gone = client.delete(f"{API}/projects/P1/sessions/E1", auth=ADMIN)
                            assert gone.status_code == 204
                        else:
                            moved = client.patch(
                                f"{API}/projects/P1/sessions/E1", json={"label": "E2"}, auth=ADMIN
                            )
                            assert moved.status_code == 200
                    received += len(chunk)
    assert 0 < received < BIG * 1024 * 1024


def test_a_client_that_leaves_stops_the_tar(
    big_session: None, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops opening (and reading ahead) files once the client is gone."""
    monkeypatch.setattr(downloads, "BATCH_FILES", 2)
    opened: list[str] = []
    open_checked = downloads.open_checked

    def counting(member: Member, started_ns: int) -> Opened:
        opened.append(member.name)
        return open_checked(member, started_ns)

    monkeypatch.setattr(downloads, "open_checked", counting)
    url = f"{live_server.url}{API}/projects/P1/sessions/E1/download?format=tar"
    port = int(live_server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        path = url.split(str(port), 1)[1]
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {token}\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(1)  # what the server would have opened by now, had it gone on
    assert 0 < len(opened) < BIG
    # The live server is still there for others.
    assert httpx.get(f"{live_server.url}/healthz", timeout=10).status_code == 200
