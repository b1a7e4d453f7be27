"""An upload's bytes written by a thread of its own, so that hashing and writing them
overlaps with receiving and decrypting the next ones on the event loop.

Each SFTP write is checked on the loop (order, quota: refused at once). The first
:data:`INLINE` bytes are written on the loop itself: a small file is done before a
thread would have started. Past them a thread starts, the writes are queued and the
thread writes the queue in order; a full queue holds the loop's next request back. The
client's fsync (fsync@openssh.com) and close wait for the queue to be written first; an
error met by the thread is raised at the next write, fsync or close.
"""

from __future__ import annotations

import asyncio
import queue
import threading

from scandepot.ingest.drops import Upload

QUEUED = 32  # chunks waiting at most (OpenSSH's sftp sends up to 256 KiB in each)
INLINE = 256 * 1024  # bytes written on the loop before a thread takes over


class Feeder:
    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self._queue: queue.Queue[bytes | threading.Event | None] = queue.Queue(QUEUED)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if isinstance(data, threading.Event):
                data.set()  # every byte queued before it is written
            elif self._error is None:
                try:
                    self.upload.put(data)
                except BaseException as exc:  # noqa: BLE001 (raised on the loop's side)
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def write(self, offset: int, data: bytes) -> None:
        self._raise()
        self.upload.accept(offset, len(data))
        if self._thread is None:
            if offset + len(data) <= INLINE:
                self.upload.put(data)
                return
            self._thread = threading.Thread(target=self._run, name="sftp-upload", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            await asyncio.to_thread(self._queue.put, data)

    async def flush(self) -> None:
        """Every byte queued so far written; the thread goes on."""
        if self._thread is not None:
            written = threading.Event()
            await asyncio.to_thread(self._queue.put, written)
            await asyncio.to_thread(written.wait)
        self._raise()

    async def drain(self) -> None:
        """Every queued byte written; the thread ended."""
        if self._thread is not None:
            await asyncio.to_thread(self._queue.put, None)
            await asyncio.to_thread(self._thread.join)
        self._raise()
