"""Every kind of job a process that runs jobs takes: the pipelines, and the site tasks
of the services above them (transfers, pushes, datasets' validations). Imported by
``serve`` and ``worker`` only."""

from __future__ import annotations

from scandepot.datasets import validation
from scandepot.pipelines import builtin
from scandepot.pipelines.jobrun import Pipeline
from scandepot.push import task as push_task
from scandepot.transfers import task as transfer_task


def jobs() -> dict[str, Pipeline]:
    return {
        **builtin.pipelines(),
        "transfer": transfer_task.run,
        "push": push_task.run,
        validation.TASK: validation.run,
    }
