"""The zero-copy send extension of `scandepot serve`'s HTTP server, on a real socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scandepot.http.responses import ZEROCOPY
from tests.conftest import LiveServer

BIG = 8 * 1024 * 1024  # more than a loopback socket takes at once: uvicorn has to buffer


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    return path


Plan = list[tuple[str, Any]]  # ("bytes", b"...") or ("file", (offset, count))


def plan_app(
    path: Path, plan: Plan, *, length: bool, seen: dict[str, Any], declared: int | None = None
) -> Callable[..., Any]:
    """An ASGI app that answers with the planned body: bytes messages and file spans, with
    a Content-Length (the body's, or ``declared``) or without (chunked)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen["extensions"] = scope.get("extensions", {})
        total = sum(len(v) if kind == "bytes" else v[1] for kind, v in plan)
        announced = str(total if declared is None else declared).encode()
        headers = [(b"content-length", announced)] if length else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with open(path, "rb") as fh:
            for kind, value in plan:
                if kind == "bytes":
                    await send({"type": "http.response.body", "body": value, "more_body": True})
                else:
                    offset, count = value
                    message = {"file": fh, "offset": offset, "count": count, "more_body": True}
                    await send({"type": ZEROCOPY, **message})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        seen["finished"] = True

    async def app_noting_errors(scope: Any, receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except BaseException as exc:
            seen["error"] = exc
            raise

    return app_noting_errors


def expected(path: Path, plan: Plan) -> bytes:
    data = path.read_bytes()
    return b"".join(v if k == "bytes" else data[v[0] : v[0] + v[1]] for k, v in plan)


@pytest.fixture
def serve() -> Iterator[Callable[[Any], LiveServer]]:
    servers: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        server = LiveServer(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


PLANS: dict[str, Plan] = {
    "files between bytes": [
        ("bytes", b"head"),
        ("file", (0, 1000)),
        ("bytes", b"-middle-"),
        ("file", (4096, 300_000)),
        ("file", (1, 1)),
        ("bytes", b"tail"),
    ],
    "a large body before a file": [("bytes", b"x" * BIG), ("file", (17, 500_000))],
    "files only": [("file", (0, 1024 * 1024)), ("file", (0, 0)), ("file", (5, 10))],
}


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("plan_name", list(PLANS))
def test_spans_arrive_in_order_and_the_connection_stays_usable(
    serve: Callable[[Any], LiveServer], data_file: Path, length: bool, plan_name: str
) -> None:
    plan = PLANS[plan_name]
    seen: dict[str, Any] = {}
    server = serve(plan_app(data_file, plan, length=length, seen=seen))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(2):  # the second request reuses the connection
            response = http.get("/")
            assert response.status_code == 200
            assert response.content == expected(data_file, plan)
            if length:
                assert response.headers["content-length"] == str(len(response.content))
            else:
                assert response.headers["transfer-encoding"] == "chunked"
        assert ZEROCOPY in seen["extensions"]
        assert seen["finished"]
        head = http.head("/")
        assert head.status_code == 200 and head.content == b""
        assert http.get("/").content == expected(data_file, plan)


def test_a_file_shorter_than_its_count_cuts_the_response(
    serve: Callable[[Any], LiveServer], data_file: Path
) -> None:
    size = data_file.stat().st_size
    plan: Plan = [("bytes", b"head"), ("file", (size - 100, 1000)), ("bytes", b"tail")]
    seen: dict[str, Any] = {}
    app = plan_app(data_file, plan, length=True, seen=seen)
    server = serve(app)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/")
        assert "finished" not in seen
        # The server goes on serving.
        whole = serve(plan_app(data_file, PLANS["files only"], length=True, seen={}))
        assert httpx.get(whole.url, timeout=30).content == expected(data_file, PLANS["files only"])
    assert "the file ended 900 bytes before the count sent" in str(seen["error"])


def test_more_than_the_content_length_is_refused(
    serve: Callable[[Any], LiveServer], data_file: Path
) -> None:
    plan: Plan = [("bytes", b"head"), ("file", (0, 1000))]
    seen: dict[str, Any] = {}
    server = serve(plan_app(data_file, plan, length=True, seen=seen, declared=10))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(server.url, timeout=30)
    assert "longer than Content-Length" in str(seen["error"])


def test_a_client_that_leaves_mid_file_ends_the_sending(
    serve: Callable[[Any], LiveServer], tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x5a" * (64 * 1024 * 1024))
    plan: Plan = [("file", (0, 64 * 1024 * 1024)), ("bytes", b"after")]
    seen: dict[str, Any] = {}
    done = threading.Event()
    inner = plan_app(big, plan, length=True, seen=seen)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await inner(scope, receive, send)
        finally:
            if scope["type"] == "http":
                done.set()

    server = serve(app)
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    # The server sees the connection go while it waits to send; the app is let go, quietly.
    assert done.wait(30)
    assert seen.get("finished") and "error" not in seen, seen
