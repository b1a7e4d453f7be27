"""An upload's bytes written by a thread of its own, so that hashing and writing them
overlaps with receiving and decrypting the next ones on the event loop.

Each SFTP write is checked on the loop (order, quota: refused at once) and queued; the
thread writes the queue in order. A full queue holds the loop's next request back. The
client's close waits for the queue to be written before the upload is finished; an error
met by the thread is raised at the next write or at the close.
"""

from __future__ import annotations

import asyncio
import queue
import threading

from scandepot.ingest.drops import Upload

QUEUED = 32  # chunks waiting at most (OpenSSH's sftp sends up to 256 KiB in each)


class Feeder:
    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sftp-upload", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
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
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            await asyncio.to_thread(self._queue.put, data)

    async def drain(self) -> None:
        """Every queued byte written; the thread ended."""
        await asyncio.to_thread(self._queue.put, None)
        await asyncio.to_thread(self._thread.join)
        self._raise()
