"""The HTTP server: uvicorn (h11) with the ASGI zero-copy send extension.

This module is the one that depends on uvicorn's and h11's private internals (tested in
tests/http/test_server.py); :class:`scandepot.http.responses.FileBodyResponse` uses only
the extension, as the ASGI specification defines it.

A tar download is mostly whole files. Read into Python and written to the socket, each
byte is copied twice on the server; ``sendfile(2)`` hands the page cache to the socket
instead, which more than doubles the rate on a small machine. The ASGI specification
defines the extension (``http.response.zerocopysend``) and uvicorn does not implement
it, so :class:`ZeroCopyH11Protocol` adds it to uvicorn's h11 protocol: a connection's
scope advertises it, and a message ``{"type": "http.response.zerocopysend", "file": f,
"offset": o, "count": n, "more_body": True}`` sends ``n`` bytes of ``f`` from ``o``.

How it stays correct beside uvicorn's own writes: h11 is told of every span (a
:class:`Span` of the right length passed through ``send_with_data_passthrough``), so its
``Content-Length`` or chunk accounting holds; uvicorn's write buffer is flushed before
the kernel is asked to send from the file, so the bytes keep their order; and waits for
the socket go through a duplicate of its descriptor, never the transport's own. A file
that ends before ``count`` bytes, or a socket error other than the client leaving,
aborts the connection: the client sees a response shorter than announced, never one
that looks whole.

Like nginx's default (``sendfile on``, no thread pool), a file not in the page cache is
read by the kernel during the call; the archive writer asks for read-ahead of the next
files while the current one is sent (``posix_fadvise(WILLNEED)``) to keep that short.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, BinaryIO

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from scandepot.http.responses import ZEROCOPY

_CLIENT_GONE = {errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN}


class Span:
    """A file range as h11 sees it: only its length counts."""

    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count


class _Body:
    """What the zero-copy path keeps of one response: its framing and the bytes it wrote
    that h11 has not been told of."""

    def __init__(self) -> None:
        self.head = False
        self.length: int | None = None  # the Content-Length, when the response has one
        self.sent = 0  # body bytes so far, every path
        self.untold = 0
        self.corked = False

    def start(self, method: str, headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.head = method == "HEAD"
        for name, value in headers:
            if name.lower() == b"content-length":
                self.length = int(value)

    def check_room(self, count: int) -> None:
        if self.length is not None and not self.head:
            if self.sent + count > self.length:
                raise RuntimeError("Response content longer than Content-Length")
        self.sent += count


class ZeroCopyH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus ``http.response.zerocopysend`` for HTTP scopes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inner_app = self.app
        self.app = self._app_with_zerocopy
        self._socket_dup: int | None = None
        self._ready: asyncio.Future[None] | None = None
        self._lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._lost = True
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)  # the sender wakes up and finds the connection gone
        if self._socket_dup is not None:
            self.loop.remove_writer(self._socket_dup)
            os.close(self._socket_dup)
            self._socket_dup = None

    async def _app_with_zerocopy(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._inner_app(scope, receive, send)
            return
        cycle = self.cycle
        assert cycle is not None and cycle.scope is scope  # h11 pauses pipelined requests
        scope["extensions"] = {**scope.get("extensions", {}), ZEROCOPY: {}}
        body = _Body()

        async def send_with_zerocopy(message: Any) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                body.start(scope["method"], message.get("headers", ()))
            elif kind == ZEROCOPY:
                if not body.corked:
                    body.corked = self._cork(True)
                await self._send_file(cycle, body, message)
                return
            elif kind == "http.response.body":
                data = message.get("body", b"")
                if body.untold and message.get("more_body", False) and not cycle.disconnected:
                    await self._direct(cycle, body, lambda: self._write(data), len(data))
                    return
                body.check_room(len(data))
            self._tell_h11(cycle, body)
            await send(message)

        try:
            await self._inner_app(scope, receive, send_with_zerocopy)
        finally:
            if body.corked:
                self._cork(False)

    async def _send_file(self, cycle: RequestResponseCycle, body: _Body, message: Any) -> None:
        if cycle.disconnected:
            return
        if not cycle.response_started or cycle.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{ZEROCOPY}' outside a response body.")
        if message.get("more_body", False) is not True:
            # Completing the response belongs to uvicorn; an empty body message does it.
            raise RuntimeError(f"'{ZEROCOPY}' messages must have more_body=True here.")
        file: BinaryIO = message["file"]
        fd = file.fileno()
        offset = message.get("offset")
        if offset is None:
            offset = file.tell()
        count = message.get("count")
        if count is None:
            count = os.fstat(fd).st_size - offset
        if body.head or count == 0:
            return
        if body.length is not None:
            # Content-Length framing: the bytes go straight out; h11 hears of them, summed,
            # before uvicorn writes anything more.
            await self._direct(cycle, body, lambda: self._sendfile(fd, offset, count), count)
            return
        # Chunked: h11 frames the span (it passes any object with a length through).
        event = h11.Data(data=Span(count))  # type: ignore[arg-type]
        parts = cycle.conn.send_with_data_passthrough(event)
        assert parts is not None

        async def framed() -> None:
            for part in parts:
                if isinstance(part, Span):
                    await self._sendfile(fd, offset, count)
                else:
                    await self._write(bytes(part))

        await self._direct(cycle, body, framed, 0)

    async def _direct(
        self,
        cycle: RequestResponseCycle,
        body: _Body,
        write: Callable[[], Awaitable[None]],
        untold: int,
    ) -> None:
        """Write to the socket ourselves, after what uvicorn's buffer holds; ``untold``
        bytes of it are the body's that h11 has not been told of yet."""
        body.check_room(untold)
        if cycle.flow.write_paused and not cycle.disconnected:
            await cycle.flow.drain()
        if cycle.disconnected:
            return
        try:
            await self._flush_transport(cycle)
            await write()
        except OSError as exc:
            self.transport.abort()
            if exc.errno in _CLIENT_GONE:
                cycle.disconnected = True
                return
            raise
        except EOFError:
            self.transport.abort()
            raise
        body.untold += untold

    def _tell_h11(self, cycle: RequestResponseCycle, body: _Body) -> None:
        if body.untold and not cycle.disconnected:
            # Content-Length framing adds nothing around data: there is nothing to write.
            event = h11.Data(data=Span(body.untold))  # type: ignore[arg-type]
            parts = cycle.conn.send_with_data_passthrough(event)
            assert parts is not None and all(isinstance(p, Span) for p in parts)
        body.untold = 0

    async def _flush_transport(self, cycle: RequestResponseCycle) -> None:
        """Wait until uvicorn's write buffer is empty: what it holds goes out first."""
        if not self.transport.get_write_buffer_size():
            return
        low, high = self.transport.get_write_buffer_limits()
        # With a high-water mark of 0 the transport pauses the protocol until its buffer
        # is empty, which is the moment uvicorn's flow control reports.
        self.transport.set_write_buffer_limits(high=0, low=0)
        try:
            await cycle.flow.drain()
        finally:
            self.transport.set_write_buffer_limits(high=high, low=low)

    def _cork(self, on: bool) -> bool:
        """Hold back partial segments while a body of many files goes out (TCP_CORK): a part's
        small header and its file leave in full segments, not one small packet each."""
        if self._lost:
            return False
        sock = self.transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
        except OSError:
            return False
        return on

    def _socket_fd(self) -> int:
        if self._lost:
            raise ConnectionResetError(errno.ECONNRESET, "the connection was lost")
        return int(self.transport.get_extra_info("socket").fileno())

    async def _writable(self) -> None:
        # The transport owns the socket's descriptor in the event loop; a duplicate of it
        # may be watched separately.
        if self._socket_dup is None:
            self._socket_dup = os.dup(self._socket_fd())
        dup = self._socket_dup
        self._ready = ready = self.loop.create_future()
        self.loop.add_writer(dup, _resolve, ready)
        try:
            await ready
        finally:
            self._ready = None
            if not self._lost:
                self.loop.remove_writer(dup)

    async def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._socket_fd(), view) :]
            except BlockingIOError:
                await self._writable()

    async def _sendfile(self, fd: int, offset: int, count: int) -> None:
        end = offset + count
        while offset < end:
            try:
                sent = os.sendfile(self._socket_fd(), fd, offset, end - offset)
            except BlockingIOError:
                await self._writable()
                continue
            if sent == 0:
                raise EOFError(f"the file ended {end - offset} bytes before the count sent")
            offset += sent


def _resolve(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


def config(app: Any, **options: Any) -> uvicorn.Config:
    """A uvicorn configuration for ``app`` on the zero-copy h11 protocol."""
    return uvicorn.Config(app, http=ZeroCopyH11Protocol, **options)
