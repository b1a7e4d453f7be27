"""Group commit: instances from concurrent associations share one catalog transaction.

An instance ready to be filed joins the queue. When no transaction is under way, the
thread that brings it files the whole queue at once (it becomes the leader); instances
that arrive meanwhile wait for the next transaction, which one of them leads. Each
sender is answered only after the transaction that holds its instance has committed,
so what is acknowledged is as durable as with a transaction per instance, at the cost of
one catalog fsync per batch. A lone association pays nothing for this: its instance finds
no transaction under way and is filed at once on its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from scandepot.context import Context
from scandepot.ingest.receive import Incoming, Received, file_batch
from scandepot.storage.store import StagedFile

log = logging.getLogger("scandepot.ingest")

MAX_BATCH = 64
IO_THREADS = 8
T = TypeVar("T")


class GroupCommit:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # File-system work kept off the senders' path (the calls release the GIL): the
        # fsync of an instance's bytes, started with its last byte and waited for before
        # its commit, and the receivers' temporary files, made and removed.
        self._io = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="dicom-io")
        self._cv = threading.Condition()
        self._queue: list[Incoming] = []
        self._busy = False
        self.batches = 0  # transactions run, for tests and logs
        self.largest = 0

    def start_sync(self, staged: StagedFile) -> None:
        """Start the fsync of an instance's bytes (all written) now."""
        try:
            staged.sync_in(self._io)
        except RuntimeError:  # shut down: filing fsyncs it inline
            pass

    def background(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn`` on a thread for file-system work (inline once closed)."""
        try:
            return self._io.submit(fn, *args)
        except RuntimeError:  # shut down: the receiver is stopping
            done: Future[T] = Future()
            try:
                done.set_result(fn(*args))
            except Exception as exc:
                done.set_exception(exc)
            return done

    def close(self) -> None:
        self._io.shutdown(wait=False)

    def file(self, item: Incoming) -> Received:
        """File ``item`` (alone or with others); raises what filing it raised."""
        self.start_sync(item.staged)  # if the caller has not: it runs while this waits
        with self._cv:
            self._queue.append(item)
        while True:
            with self._cv:
                while self._busy and not item.settled:
                    self._cv.wait()
                if item.settled:
                    return self._outcome(item)
                # No transaction under way and this instance still queued: lead the next.
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                self._busy = True
            try:
                self._run(batch)
            finally:
                with self._cv:
                    self._busy = False
                    for done in batch:
                        done.settled = True
                    self._cv.notify_all()

    def _run(self, batch: list[Incoming]) -> None:
        self.batches += 1
        self.largest = max(self.largest, len(batch))
        try:
            file_batch(self.ctx, batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].result, batch[0].error = None, exc
                return
            # The batch failed as a whole (its commit, an fsync, a deadlock on PostgreSQL):
            # file each instance on its own, so that one bad apple costs only itself.
            log.warning("a batch of %d instances failed (%s); filing one by one", len(batch), exc)
            for item in batch:
                item.result, item.error = None, None
                try:
                    file_batch(self.ctx, [item])
                except Exception as one:
                    item.result, item.error = None, one

    @staticmethod
    def _outcome(item: Incoming) -> Received:
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result
