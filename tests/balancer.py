"""A round-robin TCP load balancer on a loopback port, for tests that reach several web
servers as one address, the way an operator's HTTP load balancer would put them behind
one: each new connection goes to the next server in turn, and bytes are relayed both ways
until either side closes."""

from __future__ import annotations

import asyncio
import itertools
import threading
from types import TracebackType


class Balancer:
    """``with Balancer([(host, port), ...]) as lb: lb.url``; :attr:`connections` counts the
    connections each server was given."""

    def __init__(self, servers: list[tuple[str, int]]) -> None:
        assert servers, "a balancer needs a server"
        self.servers = servers
        self.connections = [0] * len(servers)
        self._next = itertools.cycle(range(len(servers)))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Balancer:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = started.result(timeout=10)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        chosen = next(self._next)
        self.connections[chosen] += 1
        try:
            server_in, server_out = await asyncio.open_connection(*self.servers[chosen])
        except OSError:
            client_out.close()  # the client sees the connection refused, as it would
            return
        await asyncio.gather(
            _pipe(client_in, server_out), _pipe(server_in, client_out), return_exceptions=True
        )
        server_out.close()
        client_out.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until ``source`` ends, then end ``sink``'s writing half (a half-close, as TCP
    allows: an HTTP client may end its request before the answer comes); a side that
    fails ends both."""
    try:
        while chunk := await source.read(256 * 1024):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except ConnectionError:
        sink.close()
