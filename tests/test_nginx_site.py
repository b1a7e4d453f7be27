"""The nginx site file the repository ships (deploy/nginx/scandepot.conf), run by Debian's
nginx in front of two small HTTP servers: each request of one kept-alive connection goes
to the next server in turn, the servers learn the client's address and the host it
asked for, a body streams through as it is sent (nothing held whole in nginx), and a
body over nginx's default limit passes for scandepot to judge."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.balancer import Balancer

pytestmark = pytest.mark.interop

MiB = 1024 * 1024


class Upstream:
    """A small HTTP/1.1 server that answers with its own name, what it was told of the
    client, and how much body it read; :attr:`first_part` is set once it has read the
    first MiB of a body."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.first_part = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, read: int) -> None:
                body = (
                    f"{upstream.name} {self.headers.get('Host')} "
                    f"{self.headers.get('X-Forwarded-For')} {read}"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._answer(0)

            def do_POST(self) -> None:  # noqa: N802
                left = int(self.headers["Content-Length"])
                read = 0
                while left:
                    chunk = self.rfile.read(min(left, 64 * 1024))
                    read, left = read + len(chunk), left - len(chunk)
                    if read >= MiB:
                        upstream.first_part.set()
                self._answer(read)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", int(self.server.server_address[1]))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def behind(tmp_path: Path) -> Iterator[tuple[Balancer, list[Upstream]]]:
    upstreams = [Upstream("one"), Upstream("two")]
    try:
        with Balancer(tmp_path / "nginx", [u.address for u in upstreams]) as balancer:
            yield balancer, upstreams
    finally:
        for upstream in upstreams:
            upstream.close()


def test_each_request_goes_to_the_next_server_with_the_clients_address(
    behind: tuple[Balancer, list[Upstream]],
) -> None:
    balancer, upstreams = behind
    with httpx.Client(base_url=balancer.url, timeout=10) as client:  # one connection
        answers = [client.get("/healthz").text.split() for _ in range(6)]
    names = [answer[0] for answer in answers]
    assert sorted(names) == ["one"] * 3 + ["two"] * 3
    assert all(a != b for a, b in zip(names, names[1:], strict=False)), names
    assert {answer[1] for answer in answers} == {f"127.0.0.1:{balancer.port}"}
    assert {answer[2] for answer in answers} == {"127.0.0.1"}
    by_address = {f"{host}:{port}" for host, port in (u.address for u in upstreams)}
    assert set(balancer.answered_by()) == by_address


def test_a_body_streams_through_and_is_not_held_to_a_limit(
    behind: tuple[Balancer, list[Upstream]],
) -> None:
    balancer, upstreams = behind
    size = 24 * MiB  # nginx's default limit is 1 MiB

    def body() -> Iterator[bytes]:
        yield bytes(MiB)
        # Had nginx held the body until it was whole, no server would have read a byte.
        assert any(u.first_part.wait(5) for u in upstreams), "nginx held the body"
        for _ in range(size // MiB - 1):
            yield bytes(MiB)

    with httpx.Client(base_url=balancer.url, timeout=30) as client:
        answer = client.post("/upload", content=body(), headers={"Content-Length": str(size)})
    assert answer.status_code == 200, answer.text
    assert int(answer.text.split()[3]) == size
    assert not any((balancer.folder / "client_body").glob("**/*")), "a body was spooled"
