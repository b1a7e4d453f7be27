"""The Celery application, and :class:`CeleryExecutor`, which sends it jobs.

Messages carry only a job ID. Late acknowledgement with a prefetch of one means a worker
that dies mid-job leaves its message to another worker; that worker's claim fails while
the record says running, and the stale-heartbeat sweep queues the job again. What a
worker does with a message is in pipelines/celery_worker.py.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from scandepot.context import Context
from scandepot.events import JobQueued
from scandepot.pipelines import queue
from scandepot.settings import Settings

TASK = "scandepot.run_job"
log = logging.getLogger("scandepot.pipelines")


def make_celery(settings: Settings, *, worker: bool = False) -> Any:
    transport: dict[str, Any] = {"visibility_timeout": 24 * 3600}
    if not worker:
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
    return app


class CeleryExecutor:
    """Sends jobs to the Celery queue; workers run them (``scandepot worker``)."""

    def __init__(self, ctx: Context, *, app: Any = None) -> None:
        self.ctx = ctx
        self.app = app if app is not None else make_celery(ctx.settings)

    def start(self) -> None:
        self.ctx.events.subscribe(JobQueued, lambda event: self.submit([event.job_id]))

    def stop(self) -> None:
        return None

    def submit(self, job_ids: list[int]) -> None:
        """Send each claimable job; a job the broker did not take stays queued and is sent
        again by the workers' sweep."""
        sent = []
        ready = set(queue.claimable_ids(self.ctx, 10_000)) if job_ids else set()
        for job_id in job_ids:
            if job_id not in ready:
                continue  # waits for another job; sent when that one ends
            try:
                self.app.send_task(
                    TASK, args=[job_id], queue=self.ctx.settings.celery_queue, retry=False
                )
            except Exception:  # noqa: BLE001 - broker down: the sweep sends it later
                log.warning("could not send job %s to the Celery broker", job_id, exc_info=True)
                continue
            sent.append(job_id)
        queue.mark_dispatched(self.ctx, sent)
