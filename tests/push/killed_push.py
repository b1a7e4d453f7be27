"""Run a claimed push job in a process of its own that stops, for a SIGKILL, once the far
side has answered its second batch and before that batch's outcome is committed.

    python -m tests.push.killed_push DATA_DIR DATABASE_URL JOB_ID TOKEN MARKER
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from scandepot.context import Context
from scandepot.pipelines import runner
from scandepot.push import deliver, task
from scandepot.push.sending import Outgoing, Sent
from scandepot.push.stow import StowSender
from scandepot.settings import Settings

BATCH = 2  # instances a batch: three batches for a session of six


def main(data_dir: str, url: str, job_id: str, token: str, marker: str) -> None:
    ctx = Context.from_settings(Settings(data_dir=Path(data_dir), database_url=url))
    deliver.BATCH = BATCH
    calls = []
    real = StowSender.send

    def send_then_wait(self: StowSender, batch: Sequence[Outgoing]) -> list[Sent]:
        answers = real(self, batch)
        calls.append(1)
        if len(calls) == 2:  # stored on the far side, not yet committed here
            Path(marker).write_text("sent")
            time.sleep(600)
        return answers

    StowSender.send = send_then_wait  # type: ignore[method-assign]
    runner.execute(
        ctx, int(job_id), token, pipelines={"push": task.run}, dispatch=lambda _ids: None
    )


if __name__ == "__main__":
    main(*sys.argv[1:6])
