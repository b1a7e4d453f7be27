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
from concurrent.futures import ThreadPoolExecutor

from scandepot.context import Context
from scandepot.ingest.receive import Incoming, Received, file_batch
from scandepot.storage.store import StagedFile

log = logging.getLogger("scandepot.ingest")

MAX_BATCH = 64
SYNC_THREADS = 8


def file_kept(ctx: Context, batch: list[Incoming]) -> None:
    """:func:`file_batch` on the catalog writer's kept connection: a group files one batch
    at a time."""
    file_batch(ctx, batch, kept=True)


class GroupCommit:
    """``filing`` files a batch in one transaction (:func:`file_kept`; a test hands one
    that holds a batch back, to see the next one gather)."""

    def __init__(
        self,
        ctx: Context,
        *,
        filing: Callable[[Context, list[Incoming]], None] = file_kept,
    ) -> None:
        self.ctx = ctx
        self.filing = filing
        # fsyncs of instances' bytes, started as soon as the last byte is written: they
        # run while the header is read and the catalog statements run (os.fsync releases
        # the GIL), and filing waits for each before its commit.
        self._syncer = ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="fsync")
        self._cv = threading.Condition()
        self._queue: list[Incoming] = []
        self._busy = False
        self.batches = 0  # transactions run, for tests and logs
        self.largest = 0
        self._senders = 0  # associations (or other callers) filing through it now

    def join(self) -> None:
        """A sender starts filing through this group (an association opened)."""
        with self._cv:
            self._senders += 1

    def leave(self) -> None:
        with self._cv:
            self._senders -= 1

    @property
    def queued(self) -> int:
        """Instances waiting for the next transaction."""
        with self._cv:
            return len(self._queue)

    def start_sync(self, staged: StagedFile) -> None:
        """Start the fsync of an instance's bytes (all written) now. With other senders it
        is made at once on the caller's thread (outside the interpreter lock, and outside
        any transaction and its locks): handing it to a thread costs more of the
        interpreter's time (a queue, a thread woken) than the overlap saves once other
        senders keep the cores busy."""
        if self._senders > 1:
            staged.sync()
            return
        try:
            staged.sync_in(self._syncer)
        except RuntimeError:  # closed, the receiver stopping: filing fsyncs it inline
            pass

    def close(self) -> None:
        self._syncer.shutdown(wait=False)

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
            self.filing(self.ctx, batch)
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
                    self.filing(self.ctx, [item])
                except Exception as one:
                    item.result, item.error = None, one

    @staticmethod
    def _outcome(item: Incoming) -> Received:
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result
