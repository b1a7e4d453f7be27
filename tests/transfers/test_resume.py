"""A transfer SIGKILLed half-way, then resumed: every file exactly once on the
destination, the source whole until the verification, ``scandepot check`` clean; and
cancels, queued and running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from scandepot.access.users import actor_for
from scandepot.archive import check
from scandepot.catalog.archive import File, Session
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.catalog.transfers import ItemStatus, TransferItem, TransferKind
from scandepot.context import Context
from scandepot.pipelines import queue, runner
from scandepot.pipelines.jobrun import JobRun
from scandepot.transfers import service, task
from scandepot.transfers.requests import TransferRequest
from tests.transfers.conftest import Archive, run_transfers

ROOT = Path(__file__).resolve().parents[2]


def on_disk(ctx: Context, project: str) -> list[str]:
    root = ctx.store.archive / project
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_move_killed_half_way_resumes_and_copies_each_file_once(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    for n in (1, 2, 3):
        archive.session(f"S{n}", f"E{n}", (1, 2))
    source_files = on_disk(ctx, archive.source)
    owner = actor_for(users["owner"])
    request = TransferRequest(
        kind=TransferKind.MOVE,
        source=archive.source,
        destination=archive.dest,
        sessions=["E1", "E2", "E3"],
    )
    view = service.start(ctx, owner, request)
    [(job_id, token)] = queue.claim_next(ctx, "killed", 1)
    marker = ctx.store.data_dir.parent / "linked"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.transfers.killed_job",
            str(ctx.settings.data_dir),
            str(ctx.settings.database_url),
            str(job_id),
            token,
            str(marker),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the job's process ended early"
            assert time.monotonic() < deadline, "the second session was never linked"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    # Killed with E1 committed and E2 linked but not committed: the source is whole.
    with ctx.db.read() as db:
        items = db.scalars(select(TransferItem).order_by(TransferItem.position)).all()
        assert [i.status for i in items] == ["copied", "pending", "pending"]
    assert on_disk(ctx, archive.source) == source_files
    assert (ctx.store.tmp / f"transfer-item-{items[1].id}.journal").exists()

    ctx.settings.pipeline_stale_after_s = 0
    assert queue.requeue_stale(ctx) == [job_id]
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]

    done = service.get(ctx, owner, view.transfer.id)
    assert done.verified and [i.status for i in done.items] == ["deleted"] * 3
    assert on_disk(ctx, archive.dest) == source_files  # the same labels, each file once
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(File.id))) == len(source_files)
        assert db.scalar(select(func.count(Session.id))) == 3
    assert on_disk(ctx, archive.source) == []
    assert not list(ctx.store.tmp.glob("*.journal"))
    report = check.check(ctx)
    assert report.ok, report


def test_a_queued_transfer_is_cancelled_at_once(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1", (1,))
    owner = actor_for(users["owner"])
    request = TransferRequest(
        kind=TransferKind.COPY, source=archive.source, destination=archive.dest, sessions=["E1"]
    )
    view = service.start(ctx, owner, request)
    cancelled = service.cancel(ctx, owner, view.transfer.id)
    assert cancelled.status == "cancelled" and cancelled.finished
    assert run_transfers(ctx) == []
    assert on_disk(ctx, archive.dest) == []


def test_a_running_move_cancelled_keeps_its_source(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1", (1,))
    archive.session("S2", "E2", (1,))
    source_files = on_disk(ctx, archive.source)
    owner = actor_for(users["owner"])
    request = TransferRequest(
        kind=TransferKind.MOVE,
        source=archive.source,
        destination=archive.dest,
        sessions=["E1", "E2"],
    )
    view = service.start(ctx, owner, request)
    ctx.settings.pipeline_heartbeat_s = 0.05

    def cancel_then_run(run: JobRun) -> None:
        # Running now: the cancel reaches the job through its heartbeat, as from a page.
        service.cancel(ctx, owner, view.transfer.id)
        assert run.stop.wait(10)
        task.run(run)

    [(job_id, token)] = queue.claim_next(ctx, "test", 1)
    status = runner.execute(
        ctx, job_id, token, pipelines={"transfer": cancel_then_run}, dispatch=lambda _ids: None
    )
    assert status is JobStatus.CANCELLED
    done = service.get(ctx, owner, view.transfer.id)
    assert done.status == "cancelled"
    assert on_disk(ctx, archive.source) == source_files
    with ctx.db.read() as db:
        assert db.get(Job, job_id) is not None
        assert all(i.status == ItemStatus.PENDING.value for i in db.scalars(select(TransferItem)))
