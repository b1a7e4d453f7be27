"""A file that vanishes or changes while an archive is sent ends the response without the
archive's closing records: the client gets an error, never a cut archive that looks whole."""

from __future__ import annotations

import base64
import ctypes
import datetime as dt
import io
import os
import socket
import struct
import tarfile
import time
import zipfile
import zlib
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.export.archives import Format, Member, SourceChanged, stream
from tests import saved_world
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
    if damage == "deleted":
        target.unlink()
    else:
        size = {"replaced": 5000, "grown": 5001, "shrunk": 4999}[damage]
        changed_after(target, started, b"\x09" * size)
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


def changed_after(target: Path, started_ns: int, content: bytes) -> None:
    """Write ``content`` to ``target`` until the file system stamps the change after
    ``started_ns``: file times come from a clock that ticks every few milliseconds, so a
    change within the tick of the start can look older. Real changes (an archive, a
    relabel) take longer than that to follow a download's start."""
    deadline = time.monotonic() + 10
    while True:
        target.write_bytes(content)
        if target.stat().st_ctime_ns > started_ns:
            return
        assert time.monotonic() < deadline, "the file system's clock did not move"


class Opens:
    """The files opened in a folder, as the kernel tells them (inotify, IN_OPEN)."""

    IN_OPEN = 0x20
    EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then name

    def __init__(self, folder: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, bytes(folder), self.IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), "inotify")
        self.names: list[str] = []

    def __enter__(self) -> Opens:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def seen(self) -> list[str]:
        """Every file opened so far (a name once per open)."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return self.names
            at = 0
            while at < len(data):
                _, mask, _, length = self.EVENT.unpack_from(data, at)
                name = data[at + self.EVENT.size : at + self.EVENT.size + length]
                if mask & self.IN_OPEN and name.rstrip(b"\0"):
                    self.names.append(name.rstrip(b"\0").decode())
                at += self.EVENT.size + length


@pytest.fixture
def big_session(ctx: Context, client: TestClient, users: object) -> None:
    """Built once per test process and catalog through the API, then put back
    (tests/saved_world.py)."""
    saved_world.kept(ctx, "export-big-session", lambda: put_big_session(client))


def put_big_session(client: TestClient) -> None:
    assert client.post(f"{API}/projects", json={"id": "P1"}, auth=ADMIN).status_code == 201
    base = f"{API}/projects/P1"
    client.post(f"{base}/subjects", json={"label": "S1"}, auth=ADMIN)
    client.post(f"{base}/sessions", json={"label": "E1", "subject": "S1"}, auth=ADMIN)
    client.post(f"{base}/sessions/E1/scans", json={"id": "1"}, auth=ADMIN)
    chunk = b"\xab" * (1024 * 1024)
    for i in range(BIG):
        url = f"{base}/sessions/E1/scans/1/resources/DICOM/files/{i:03d}.dcm"
        assert client.put(url, content=chunk, auth=ADMIN).status_code == 201


@pytest.mark.in_process("sets how far ahead the server opens files")
@pytest.mark.parametrize("fmt", ["zip", "tar"])
@pytest.mark.parametrize("change", ["delete", "relabel"])
def test_session_deleted_or_moved_mid_download(
    client: TestClient,
    big_session: None,
    live_server: LiveServer,
    fmt: str,
    change: str,
    ctx: Context,
) -> None:
    # A tar's files are opened a batch ahead of the one on the wire; a file already open is
    # sent as it was when the download began. Batches of two files leave most of these 40
    # unopened when the session goes.
    ctx.settings.download_files_ahead = 2
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


@pytest.mark.in_process("sets how far ahead the server opens files")
def test_a_client_that_leaves_stops_the_tar(
    big_session: None, live_server: LiveServer, ctx: Context
) -> None:
    """The server stops opening (and reading ahead) files once the client is gone."""
    ctx.settings.download_files_ahead = 2
    url = f"{live_server.url}{API}/projects/P1/sessions/E1/download?format=tar"
    port = int(live_server.url.rsplit(":", 1)[1])
    folder = ctx.store.archive / "P1/subjects/S1/sessions/E1/scans/1/resources/DICOM/files"
    with Opens(folder) as opens, socket.create_connection(("127.0.0.1", port)) as sock:
        token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
        path = url.split(str(port), 1)[1]
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {token}\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.close()
        time.sleep(1)  # what the server would have opened by now, had it gone on
        opened = opens.seen()
    assert 0 < len(opened) < BIG
    # The live server is still there for others.
    assert httpx.get(f"{live_server.url}/healthz", timeout=10).status_code == 200
