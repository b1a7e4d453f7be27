"""Connect pipelines to the rest: auto-launch on "session archived", and the executor the
settings choose. Called by what every process installs (scandepot/processes.py); never at
import time."""

from __future__ import annotations

import logging
from collections.abc import Callable

from scandepot.context import Context
from scandepot.events import SessionArchived
from scandepot.pipelines import autolaunch
from scandepot.pipelines.executors import Executor, LocalExecutor
from scandepot.pipelines.jobrun import Pipelines

log = logging.getLogger("scandepot.pipelines")


Prepare = Callable[[Context], object]


def install(
    ctx: Context, *, pipelines: Pipelines | None = None, prepare: Prepare | None = None
) -> Executor | None:
    """Queue the auto-launched jobs of each archived session, and start the executor;
    returns it for the caller to stop. ``pipelines`` are given by a process that runs jobs
    itself (``scandepot serve``); ``prepare`` (a module-level function) is called on the
    context of each process of its pool as it starts."""

    def on_archived(event: SessionArchived) -> None:
        launched = autolaunch.auto_launch(ctx, event)
        if launched:
            log.info(
                "session %s/%s archived: queued %s",
                event.project,
                event.session,
                ", ".join(f"{j.pipeline} (job {j.id})" for j in launched),
            )

    ctx.events.subscribe(SessionArchived, on_archived)
    executor = choose(ctx, pipelines=pipelines, prepare=prepare)
    if executor is not None:
        executor.start()
    return executor


def choose(
    ctx: Context, *, pipelines: Pipelines | None, prepare: Prepare | None = None
) -> Executor | None:
    """The one place ``pipeline_executor`` is read. Under ``celery`` every process that
    queues jobs sends them to the broker; under ``local`` the process given ``pipelines``
    runs them in its pool, and any other leaves them to that process's poll."""
    if ctx.settings.pipeline_executor == "celery":
        # Imported only here: Celery loads in processes configured for it, not in every
        # CLI command.
        from scandepot.pipelines.celery_app import CeleryExecutor

        return CeleryExecutor(ctx)
    if pipelines is not None:
        return LocalExecutor(ctx, pipelines=pipelines, prepare=prepare)
    return None
