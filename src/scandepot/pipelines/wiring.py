"""Connect pipelines to the rest: auto-launch on "session archived", hand queued jobs to
the configured executor. Called where a context is built for serving (create_app) and by
``scandepot worker``; never at import time."""

from __future__ import annotations

import logging

from scandepot.context import Context
from scandepot.events import SessionArchived
from scandepot.pipelines import autolaunch

log = logging.getLogger("scandepot.pipelines")


def install(ctx: Context) -> None:
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
    if ctx.settings.pipeline_executor == "celery":
        from scandepot.pipelines.executors import CeleryExecutor

        CeleryExecutor(ctx).start()
