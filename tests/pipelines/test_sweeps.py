"""Every worker sweeps the queue for jobs whose runner went silent: two sweeps at once on
one PostgreSQL catalog end (or queue again) each job once."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from scandepot.access.actors import SYSTEM
from scandepot.catalog.journal import EventRecord
from scandepot.catalog.pipelines import Job
from scandepot.context import Context
from scandepot.pipelines import jobs, queue
from scandepot.pipelines.jobs import LaunchRequest
from tests.pipelines.conftest import ArchiveFn, enable


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_job_another_sweep_holds_is_left_to_it(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    [(job_id, _token)] = queue.claim_next(ctx, "gone", 1)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    last = ctx.settings.pipeline_max_attempts
    with ctx.db.write() as db:  # its last attempt, silent: the sweep fails it
        db.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=long_ago, attempts=last))
    swept: list[list[int]] = []
    with ctx.db.engine.connect() as other:  # another worker's sweep, mid-transaction
        other.execute(text("SELECT id FROM job WHERE id = :id FOR UPDATE"), {"id": job_id})
        sweep = threading.Thread(target=lambda: swept.append(queue.requeue_stale(ctx)))
        sweep.start()
        sweep.join(timeout=30)
        assert not sweep.is_alive() and swept == [[]]  # not waited for, not touched
        other.rollback()
    assert queue.requeue_stale(ctx) == []  # failed now, by this sweep alone
    with ctx.db.read() as db:
        assert db.scalar(select(Job.status).where(Job.id == job_id)) == "failed"
        kinds = db.scalars(select(EventRecord.kind).where(EventRecord.kind == "JobFinished"))
        assert len(kinds.all()) == 1
