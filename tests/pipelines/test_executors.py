"""The two executors for real: `scandepot serve` with its local process pool (restarted
with jobs queued and a job interrupted), and `scandepot worker` processes fed through
Celery by the local Redis."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update

from scandepot.access.actors import SYSTEM
from scandepot.catalog.paging import PageRequest
from scandepot.catalog.pipelines import Job
from scandepot.cli.common import open_context
from scandepot.context import Context
from scandepot.events import JobFinished
from scandepot.pipelines import autolaunch, builtin, jobs, queue, wiring
from scandepot.pipelines.executors import LocalExecutor
from scandepot.pipelines.jobs import LaunchRequest
from scandepot.settings import Settings
from tests.cli.test_serve import Server
from tests.pipelines.conftest import archive_session, enable

pytestmark = pytest.mark.interop

REDIS = "redis://127.0.0.1:6379/0"


def wait_all_finished(ctx: Context, count: int, timeout: float = 90) -> list[Job]:
    deadline = time.monotonic() + timeout
    while True:
        with ctx.db.read() as db:
            found = list(db.scalars(select(Job).order_by(Job.id)))
        if len(found) == count and all(j.finished_at is not None for j in found):
            return found
        if time.monotonic() > deadline:
            states = [(j.id, j.pipeline, j.status, j.message) for j in found]
            raise AssertionError(f"jobs did not finish: {states}")
        time.sleep(0.2)


@pytest.fixture
def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}


def test_serve_runs_jobs_queued_while_it_was_down_and_resumes_an_interrupted_one(
    tmp_path: Path, clean_env: dict[str, str], synthetic: dict[str, list[Path]]
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    ctx = open_context(settings)
    try:
        first = archive_session(ctx, {"1": synthetic["t1"], "2": synthetic["bold"]})
        enable(ctx, "PIPE", "dcm2niix", "qa", "snapshots")
        autolaunch.auto_launch(ctx, first)  # queued while no server runs
        archive_session(ctx, {"1": synthetic["t1"]}, session="E2")
        # A job a previous server had claimed when it died: running, heartbeat gone stale.
        interrupted = jobs.launch(ctx, SYSTEM, "PIPE", "E2", LaunchRequest("dcm2niix"))
        assert queue.claim(ctx, interrupted.id, "local:dead-host:1") is not None
        stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        with ctx.db.write() as db:
            db.execute(update(Job).where(Job.id == interrupted.id).values(heartbeat_at=stale))

        env = {
            **clean_env,
            "SCANDEPOT_DATA_DIR": str(settings.data_dir),
            "SCANDEPOT_ADMIN_PASSWORD": "correct-horse-battery",
            "SCANDEPOT_PIPELINE_POLL_S": "0.2",
            "SCANDEPOT_PIPELINE_STALE_AFTER_S": "30",
        }
        server = Server(tmp_path, env)
        try:
            ended = wait_all_finished(ctx, 4)
        finally:
            server.stop(signal.SIGTERM)
        assert [(j.pipeline, j.status) for j in ended] == [
            ("dcm2niix", "succeeded"),
            ("qa", "succeeded"),
            ("snapshots", "succeeded"),
            ("dcm2niix", "succeeded"),
        ], [j.message for j in ended]
        assert all(j.worker and j.worker.startswith("local:") for j in ended)
        assert ended[3].attempts == 2 and ended[3].worker != "local:dead-host:1"
        session_dir = settings.data_dir / "archive/PIPE/subjects/S1/sessions"
        for resource in ("NIFTI", "QA", "SNAPSHOTS"):
            assert (session_dir / f"E1/scans/2/resources/{resource}/files").is_dir()
        assert (session_dir / "E2/scans/1/resources/NIFTI/files/1_T1w.nii.gz").is_file()
    finally:
        ctx.close()


@pytest.fixture
def broker() -> str:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {REDIS} is needed and cannot be reached: {exc}")
    return REDIS


class Worker:
    def __init__(self, settings: Settings, queue: str, log: Path) -> None:
        assert settings.database_url is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
        env.update(SCANDEPOT_PIPELINE_POLL_S="0.5", SCANDEPOT_LOG_LEVEL="info")
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "scandepot", "worker",
                    "--data-dir", str(settings.data_dir),
                    "--database-url", settings.database_url,
                    "--broker", REDIS, "--queue", queue, "--concurrency", "2",
                ],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.log.read_text()


@pytest.fixture
def celery_ctx(ctx: Context, broker: str) -> Iterator[Context]:
    """The test's context set up as a server with the Celery executor, on its own queue."""
    queue = f"scandepot-test-{uuid.uuid4().hex[:8]}"
    ctx.settings = ctx.settings.model_copy(
        update={"pipeline_executor": "celery", "celery_broker_url": broker, "celery_queue": queue}
    )
    yield ctx
    redis.Redis.from_url(broker).delete(queue)


def test_celery_workers_run_auto_launched_jobs(
    celery_ctx: Context, synthetic: dict[str, list[Path]], tmp_path: Path
) -> None:
    ctx = celery_ctx
    early = archive_session(ctx, {"1": synthetic["t1"]}, session="E0")
    enable(ctx, "PIPE", "dcm2niix", "qa", "snapshots")
    # Queued before any sender was wired (as if the broker had been down): never sent.
    jobs.launch(ctx, SYSTEM, "PIPE", early.session, LaunchRequest("dcm2niix"))
    wiring.install(ctx)
    event = archive_session(ctx, {"1": synthetic["t1"], "2": synthetic["bold"]})
    ctx.events.publish(event)
    sent = jobs.list_jobs(ctx, SYSTEM, "PIPE", PageRequest(sort="id")).items
    assert [j.dispatched_at is not None for j in sent] == [False, True, False, False]

    worker = Worker(ctx.settings, ctx.settings.celery_queue, tmp_path / "worker.log")
    try:
        ended = wait_all_finished(ctx, 4)
    finally:
        output = worker.stop()
    assert [(j.pipeline, j.target, j.status) for j in ended] == [
        ("dcm2niix", "E0", "succeeded"),
        ("dcm2niix", "E1, scans 1, 2", "succeeded"),
        ("qa", "E1, scans 1, 2", "succeeded"),
        ("snapshots", "E1, scans 1, 2", "succeeded"),
    ], output
    assert all(j.worker and j.worker.startswith("celery:") for j in ended)
    scan_dir = ctx.store.archive / "PIPE/subjects/S1/sessions/E1/scans/2/resources"
    assert (scan_dir / "QA/files/2_bold_qa.json").is_file()
    assert (scan_dir / "SNAPSHOTS/files/2_bold.png").is_file()


def test_local_executor_in_a_server_process_announces_finished_jobs(
    ctx: Context, synthetic: dict[str, list[Path]]
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"pipeline_poll_s": 0.2})
    wiring.install(ctx)
    finished: list[JobFinished] = []
    ctx.events.subscribe(JobFinished, finished.append)
    executor = LocalExecutor(ctx, pipelines=builtin.pipelines(), workers=2)
    executor.start()
    try:
        event = archive_session(ctx, {"1": synthetic["t1"]})
        enable(ctx, "PIPE", "dcm2niix", "snapshots")
        ctx.events.publish(event)
        ended = wait_all_finished(ctx, 2, timeout=60)
        # The server announces a job once it sees the pool finish it, a moment after the
        # record says so: wait while the executor still runs.
        deadline = time.monotonic() + 15
        while len(finished) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        executor.stop()
    assert [(j.pipeline, j.status) for j in ended] == [
        ("dcm2niix", "succeeded"),
        ("snapshots", "succeeded"),
    ], [j.message for j in ended]
    assert sorted((e.pipeline, e.status) for e in finished) == [
        ("dcm2niix", "succeeded"),
        ("snapshots", "succeeded"),
    ]


def test_a_launch_while_the_broker_is_down_is_quick_and_left_for_the_sweep(
    ctx: Context, synthetic: dict[str, list[Path]]
) -> None:
    ctx.settings = ctx.settings.model_copy(
        update={"pipeline_executor": "celery", "celery_broker_url": "redis://127.0.0.1:9/0"}
    )
    wiring.install(ctx)
    archive_session(ctx, {"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    start = time.monotonic()
    job = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    assert time.monotonic() - start < 3
    assert jobs.get(ctx, SYSTEM, "PIPE", job.id).dispatched_at is None
    assert queue.undispatched(ctx, older_than_s=0) == [job.id]
