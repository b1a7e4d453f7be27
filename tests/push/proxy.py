"""A small HTTP proxy on a loopback port, in front of Orthanc: it forwards every request,
counts the instances each STOW-RS request carried to Orthanc (by the parts of its
multipart body), and fails as a test asks: a request it answers 503 without forwarding,
a port not listening yet (the destination down at the start), an upstream that went
away (answered 502 until the test points it at the new one)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from pydicom import dcmread

STOW = "/dicom-web/studies"


def parts(content_type: str, body: bytes) -> list[bytes]:
    """The parts of a multipart/related body."""
    boundary = next(
        p.split("=", 1)[1].strip('"')
        for p in content_type.split(";")
        if p.strip().startswith("boundary=")
    )
    chunks = body.split(b"--" + boundary.encode())[1:-1]
    return [c.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for c in chunks]


class Proxy:
    def __init__(self, port: int, upstream: str) -> None:
        self.port = port
        self.upstream = upstream
        self.lock = threading.Lock()
        self.stored: Counter[str] = Counter()  # SOP Instance UID -> times carried to Orthanc
        self.stow_requests = 0
        self.refused_503 = 0
        # Called with the number of the STOW request (1, 2, ...): True answers it 503.
        self.fail: Callable[[int], bool] = lambda _n: False
        # Called after each STOW request Orthanc answered, with its number.
        self.after: Callable[[int], None] = lambda _n: None
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dicom-web"

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            assert self.thread is not None
            self.thread.join(timeout=10)
            self.server = None

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        stow = method == "POST" and path.split("?")[0].rstrip("/") == STOW
        if stow:
            with self.lock:
                self.stow_requests += 1
                number = self.stow_requests
            if self.fail(number):
                with self.lock:
                    self.refused_503 += 1
                return 503, {"Content-Type": "text/plain"}, b"busy, try later"
        keep = {k: v for k, v in headers.items() if k in {"content-type", "accept"}}
        try:
            with httpx.Client(base_url=self.upstream, timeout=60) as client:
                answer = client.request(method, path, headers=keep, content=body)
        except httpx.TransportError as exc:
            return 502, {"Content-Type": "text/plain"}, f"upstream down: {exc}".encode()
        if stow and answer.status_code < 500:
            uids = [
                str(dcmread(_io(p)).SOPInstanceUID) for p in parts(headers["content-type"], body)
            ]
            with self.lock:
                self.stored.update(uids)
            self.after(number)
        out = {"Content-Type": answer.headers.get("content-type", "application/octet-stream")}
        return answer.status_code, out, answer.content


def _io(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def _handler(proxy: Proxy) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, out = proxy.forward(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
