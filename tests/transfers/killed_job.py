"""Run a claimed transfer job in a process of its own that stops, for a SIGKILL, once
the links of its second session are made and before that session commits.

    python -m tests.transfers.killed_job DATA_DIR DATABASE_URL JOB_ID TOKEN MARKER
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scandepot.context import Context
from scandepot.pipelines import runner
from scandepot.settings import Settings
from scandepot.storage.changes import Changes
from scandepot.transfers import task


def main(data_dir: str, url: str, job_id: str, token: str, marker: str) -> None:
    ctx = Context.from_settings(Settings(data_dir=Path(data_dir), database_url=url))
    calls = []
    real = Changes.sync_folders

    def sync_then_wait(self: Changes, folders: Sequence[Path]) -> None:
        real(self, folders)
        calls.append(1)
        if len(calls) == 2:  # the second session: linked and journalled, not committed
            Path(marker).write_text("linked")
            time.sleep(600)

    Changes.sync_folders = sync_then_wait  # type: ignore[method-assign]
    runner.execute(
        ctx, int(job_id), token, pipelines={"transfer": task.run}, dispatch=lambda _ids: None
    )


if __name__ == "__main__":
    main(*sys.argv[1:6])
