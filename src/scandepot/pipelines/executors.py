"""Executors: where claimed jobs run. One small interface, two implementations.

- :class:`LocalExecutor` (here), the embedded default, inside ``scandepot serve``: a
  thread claims queued jobs from the catalog and runs each in a process pool; queued
  jobs, and running jobs whose heartbeat went stale (a server killed mid-job), are picked
  up again after a restart.
- :class:`~scandepot.pipelines.celery_app.CeleryExecutor` sends job IDs to a Celery queue
  (Redis or RabbitMQ broker); ``scandepot worker`` processes, on this machine or others
  sharing the catalog and the file store, claim and run them with the same runner
  (pipelines/celery_worker.py).

The settings choose one in a single place, pipelines/wiring.py. The catalog stays the
truth either way: the claim decides who runs a job.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol

from scandepot.catalog.pipelines import JobStatus
from scandepot.context import Context
from scandepot.events import JobQueued
from scandepot.pipelines import queue, runner
from scandepot.pipelines.jobrun import Pipelines
from scandepot.settings import Settings

log = logging.getLogger("scandepot.pipelines")


class Executor(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def submit(self, job_ids: list[int]) -> None:
        """Jobs were queued (or became ready): run them when a slot is free."""


# ---- the local process pool ----

# What a pool process runs jobs with, set once as it starts.
_child: tuple[Context, Pipelines] | None = None
PARENT_POLL_S = 1.0


def _child_init(
    settings: Settings,
    pipelines: Pipelines,
    parent: int,
    prepare: Callable[[Context], object] | None = None,
) -> None:
    """Each pool process opens its own catalog connections (never shared across fork),
    follows events as its server does (``prepare``), and ends when the server that
    started it is gone."""
    global _child
    ctx = Context.from_settings(settings)
    if prepare is not None:
        prepare(ctx)
    _child = (ctx, pipelines)
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    """A pool process waits on a queue whose writing end every pool process holds too, so
    a SIGKILLed server's pool never sees it close: without this it would live on under
    PID 1, holding the multiprocessing resource tracker alive as well. Polling the parent
    works on every POSIX system, and unlike PR_SET_PDEATHSIG it does not fire when the
    server thread that happened to start this process ends."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    log.warning("pool process %d: the server (%d) is gone; exiting", os.getpid(), parent)
    os._exit(1)


def _child_run(job_id: int, token: str) -> str:
    assert _child is not None
    ctx, pipelines = _child
    # The executor's thread wakes on completion and claims what became ready.
    return runner.execute(ctx, job_id, token, pipelines=pipelines, dispatch=lambda _ids: None).value


class LocalExecutor:
    def __init__(
        self,
        ctx: Context,
        *,
        pipelines: Pipelines,
        workers: int | None = None,
        prepare: Callable[[Context], object] | None = None,
    ) -> None:
        self.ctx = ctx
        self.prepare = prepare  # a module-level function: pickled by name
        # A plain dict of module-level functions: pickled by name into each pool process.
        self.pipelines = dict(pipelines)
        self.workers = workers or ctx.settings.pipeline_workers
        self.name = queue.worker_name("local")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, str] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._pool = self._new_pool()
        self.ctx.events.subscribe(JobQueued, lambda _event: self._wake.set())
        self._thread = threading.Thread(target=self._loop, name="local-executor", daemon=True)
        self._thread.start()
        log.info("local executor: %d worker process(es)", self.workers)

    def submit(self, job_ids: list[int]) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - keep serving; the next tick retries
                log.exception("local executor: claiming jobs failed")
            self._wake.wait(self.ctx.settings.pipeline_poll_s)
            self._wake.clear()

    def _tick(self) -> None:
        for job_id in queue.requeue_stale(self.ctx):
            log.warning("job %s was interrupted; queued again", job_id)
        with self._lock:
            free = self.workers - len(self._running)
        if free <= 0 or self._stopping.is_set():
            return
        for job_id, token in queue.claim_next(self.ctx, self.name, free):
            assert self._pool is not None
            with self._lock:
                self._running[job_id] = token
            future = self._pool.submit(_child_run, job_id, token)
            future.add_done_callback(functools.partial(self._done, job_id))

    def _done(self, job_id: int, future: Future[str]) -> None:
        with self._lock:
            token = self._running.pop(job_id, None)
        if self._stopping.is_set():
            return
        error = future.exception()
        if error is None:
            # The pool process announced the end on its own bus; subscribers live here.
            queue.announce(self.ctx, job_id)
        if error is not None and token is not None:
            # The worker process died (killed, out of memory): the job did not end cleanly.
            log.error("job %s: worker process failed: %r", job_id, error)
            queue.finish(
                self.ctx,
                job_id,
                token,
                queue.Outcome(
                    JobStatus.FAILED, f"The worker process failed: {error!r}", "", {}, {}
                ),
            )
            self._restart_pool()
        self._wake.set()

    def _restart_pool(self) -> None:
        # A pool whose process died is broken for good; make a new one.
        old, self._pool = self._pool, self._new_pool()
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent has threads and open catalog connections.
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_init,
            initargs=(self.ctx.settings, self.pipelines, os.getpid(), self.prepare),
        )

    def stop(self) -> None:
        """Stop taking jobs; jobs still running are put back in the queue for next time."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            held = list(self._running.items())
            self._running.clear()
        pool = self._pool
        if pool is not None:
            processes: dict[Any, Any] = getattr(pool, "_processes", None) or {}
            for process in list(processes.values()):
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        if held:
            queue.release(self.ctx, held, "Interrupted by a shutdown; queued again.")
