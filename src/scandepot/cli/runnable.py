"""Every kind of job a process that runs jobs takes: the pipelines, those of the services
above them (datalad), and their site tasks (transfers, pushes, datasets' validations).
Imported by ``serve`` and ``worker`` only."""

from __future__ import annotations

from scandepot.datalad import task as datalad_task
from scandepot.datasets import validation
from scandepot.pipelines import builtin
from scandepot.pipelines.jobrun import Pipeline
from scandepot.push import task as push_task
from scandepot.transfers import task as transfer_task


def jobs() -> dict[str, Pipeline]:
    return {
        **builtin.pipelines(),
        "datalad": datalad_task.run,
        "transfer": transfer_task.run,
        "push": push_task.run,
        validation.TASK: validation.run,
    }
