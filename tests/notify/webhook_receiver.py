"""A real HTTP receiver for webhook tests: a stdlib ThreadingHTTPServer on a loopback
port that records what it is sent and answers as told.

``answers`` holds the statuses of the next requests (200 once it is empty);
``HANG`` as an answer holds that request without answering until the server stops, as a
receiver that hangs does; ``(status, HANG)`` sends the status and headers, the start of
the body, and then holds the rest. ``wait_for(n)`` polls with a deadline for ``n`` requests.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = -1


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class Receiver:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.answers: deque[int | tuple[int, int]] = deque()
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # HTTPS: the handshake in each request's thread
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Its address: by name for HTTPS (its certificate names localhost), else by IP."""
        host, port = self._server.server_address[:2]
        name = "localhost" if self.scheme == "https" else str(host)
        return f"{self.scheme}://{name}:{port}/hook"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.requests)} requests arrived, {count} expected")

    def _record(self, received: Received) -> int | tuple[int, int]:
        with self._lock:
            self.requests.append(received)
            return self.answers.popleft() if self.answers else 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = outer._record(Received("POST", self.path, headers, body))
                if answer == HANG:
                    outer.released.wait(60)
                    return
                status, hang = answer if isinstance(answer, tuple) else (answer, 0)
                text = f"answer {status}\n  from the receiver".encode()
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(text) + (100 if hang else 0)))
                if 300 <= status < 400:
                    self.send_header("location", "/elsewhere")
                self.end_headers()
                self.wfile.write(text)
                if hang:
                    self.wfile.flush()
                    outer.released.wait(60)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler
