"""The pipelines scandepot ships, by the name a job records; config.PIPELINES describes
them to people.

Whoever starts runners (``scandepot serve``, ``scandepot worker``) takes this mapping and
hands it on: the executors to their runners, the runner to one job. Nothing registers
into it, and a test hands a runner a mapping of its own. Importing this module loads
numpy and scipy (the QA metrics), so the CLI's client commands never do.
"""

from __future__ import annotations

from scandepot.pipelines import dcm2niix, snapshots
from scandepot.pipelines.jobrun import Pipeline
from scandepot.pipelines.qa import run as qa


def pipelines() -> dict[str, Pipeline]:
    return {"dcm2niix": dcm2niix.run, "qa": qa.run, "snapshots": snapshots.run}
