"""Inside ``scandepot worker``: the Celery task that claims and runs one job, and the
sweep that keeps the queue moving when messages are lost.

A message only says "look at job N"; the claim decides who runs it, so a duplicate or
late message does nothing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from scandepot.context import Context
from scandepot.pipelines import queue, runner
from scandepot.pipelines.celery_app import TASK, CeleryExecutor, make_celery
from scandepot.pipelines.jobrun import Pipelines

log = logging.getLogger("scandepot.pipelines")


def worker_app(ctx: Context, *, pipelines: Pipelines) -> Any:
    """The Celery application of a worker: its task runs jobs with ``pipelines`` and sends
    on the jobs that waited for each."""
    app = make_celery(ctx.settings, worker=True)
    sender = CeleryExecutor(ctx, app=app)

    @app.task(name=TASK, bind=True)  # type: ignore[untyped-decorator]
    def run_job(task: Any, job_id: int) -> str:
        token = queue.claim(ctx, job_id, queue.worker_name("celery"))
        if token is None:
            return "not claimable"  # running elsewhere, finished, or waiting: nothing to do
        return runner.execute(ctx, job_id, token, pipelines=pipelines, dispatch=sender.submit).value

    del run_job
    return app


class Sweeper(threading.Thread):
    """In each worker: queue interrupted jobs again, and send jobs no message was sent for
    (queued while the broker was down, or whose message was lost)."""

    def __init__(self, ctx: Context, app: Any) -> None:
        super().__init__(name="celery-sweeper", daemon=True)
        self.ctx = ctx
        self.sender = CeleryExecutor(ctx, app=app)
        self.done = threading.Event()

    def run(self) -> None:
        while True:
            try:
                queue.requeue_stale(self.ctx)
                pending = queue.undispatched(
                    self.ctx, older_than_s=self.ctx.settings.pipeline_stale_after_s
                )
                if pending:
                    self.sender.submit(pending)
            except Exception:  # noqa: BLE001 - the next round retries
                log.warning("worker sweep failed", exc_info=True)
            if self.done.wait(self.ctx.settings.pipeline_poll_s):
                return
