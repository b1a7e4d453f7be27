"""The Celery application behind ``scandepot worker`` and :class:`CeleryExecutor`.

Messages carry only a job ID. Late acknowledgement with a prefetch of one means a worker
that dies mid-job leaves its message to another worker; that worker's claim fails while
the record says running, and the stale-heartbeat sweep queues the job again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery

from scandepot.context import Context
from scandepot.pipelines import queue, runner
from scandepot.pipelines.jobrun import Pipelines
from scandepot.settings import Settings

TASK = "scandepot.run_job"
log = logging.getLogger("scandepot.pipelines")


def make_celery(
    settings: Settings, ctx: Context | None = None, *, pipelines: Pipelines | None = None
) -> Any:
    transport: dict[str, Any] = {"visibility_timeout": 24 * 3600}
    if ctx is None:
        # A sender (the server, the CLI) must not hold a request for seconds of retries
        # when the broker is down: the job stays queued and a worker's sweep sends it.
        transport.update(socket_connect_timeout=2, max_retries=0)
    app = Celery("scandepot", broker=settings.celery_broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.celery_queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    if ctx is not None:
        assert pipelines is not None, "a worker runs jobs with the pipelines it is given"
        _register(app, ctx, pipelines)
    return app


def _register(app: Any, ctx: Context, pipelines: Pipelines) -> None:
    from scandepot.pipelines.executors import CeleryExecutor

    sender = CeleryExecutor(ctx, app=app)

    @app.task(name=TASK, bind=True)  # type: ignore[untyped-decorator]
    def run_job(task: Any, job_id: int) -> str:
        token = queue.claim(ctx, job_id, queue.worker_name("celery"))
        if token is None:
            return "not claimable"  # running elsewhere, finished, or waiting: nothing to do
        return runner.execute(ctx, job_id, token, pipelines=pipelines, dispatch=sender.submit).value

    del run_job


class Sweeper(threading.Thread):
    """In each worker: queue interrupted jobs again, and send jobs no message was sent for
    (queued while the broker was down, or whose message was lost)."""

    def __init__(self, ctx: Context, app: Any) -> None:
        super().__init__(name="celery-sweeper", daemon=True)
        from scandepot.pipelines.executors import CeleryExecutor

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
