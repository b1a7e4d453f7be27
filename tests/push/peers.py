"""Small HTTP servers on a loopback port, for what a real peer will not do on demand:
answer 5xx, speak TLS with a certificate of the test's own CA, ask for a client
certificate. Each request is answered by ``answer(method, path, headers, body)``."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def _handler(answer: Answer, seen: list[tuple[str, str, dict[str, str]]]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append((self.command, self.path, headers))
            status, out_headers, out = answer(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class Peer:
    def __init__(self, server: ThreadingHTTPServer, tls: bool) -> None:
        self.server = server
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"


@contextmanager
def http_peer(answer: Answer, tls: ssl.SSLContext | None = None) -> Iterator[Peer]:
    seen: list[tuple[str, str, dict[str, str]]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(answer, seen))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    peer = Peer(server, tls is not None)
    peer.seen = seen
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
