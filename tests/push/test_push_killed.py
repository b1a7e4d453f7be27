"""The pushing server SIGKILLed half-way: claimed again, the push sends only what Orthanc
does not hold, and ends with every instance there once and a report that says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from scandepot.catalog.push import PushInstance
from scandepot.pipelines import queue
from scandepot.push import follow
from scandepot.push.requests import PushRequest, request_push
from tests.orthanc_peer import Orthanc, StartOrthanc, free_port
from tests.push.conftest import World, run_pushes
from tests.push.proxy import Proxy
from tests.push.test_push_orthanc import orthanc_tags

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[2]


def _kill_half_way(world: World, job_id: int, token: str) -> None:
    marker = world.tmp / "killed.marker"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
    settings = world.ctx.settings
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.push.killed_push",
            str(settings.data_dir),
            str(settings.database_url),
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
            assert proc.poll() is None, "the push's process ended early"
            assert time.monotonic() < deadline, "the second batch was never sent"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_push_killed_half_way_resumes_without_sending_twice(
    world: World, start_orthanc: StartOrthanc
) -> None:
    orthanc: Orthanc = start_orthanc()
    proxy = Proxy(free_port(), f"http://127.0.0.1:{orthanc.http_port}")
    proxy.start()
    try:
        world.destination(url=proxy.url, concurrency=1)
        asked = PushRequest(destination="node", sessions=["E1"])
        push = request_push(world.ctx, world.actor(), world.project, asked)
        [(job_id, token)] = queue.claim_next(world.ctx, "test", 1)
        _kill_half_way(world, job_id, token)

        # Four instances on Orthanc; two committed as sent, the next two not.
        assert sum(proxy.stored.values()) == 4 and len(orthanc_tags(orthanc)) == 4
        with world.ctx.db.read() as db:
            rows = db.scalars(select(PushInstance).where(PushInstance.push_id == push.id)).all()
            assert sorted(r.status for r in rows) == ["pending"] * 4 + ["sent"] * 2

        world.ctx.settings.pipeline_stale_after_s = 0
        assert queue.requeue_stale(world.ctx) == [job_id]
        assert [s.value for s in run_pushes(world.ctx)] == ["succeeded"]
    finally:
        proxy.stop()

    held = orthanc_tags(orthanc)
    assert len(held) == 6 and set(proxy.stored) == set(held)
    assert set(proxy.stored.values()) == {1}  # none carried twice
    view = follow.get(world.ctx, world.actor(), push.id)
    counts = view.push.report["counts"]
    assert counts["verified"] == 6 and counts["sent_by_push"] == 4
    assert counts["already_there"] == 2  # found by asking Orthanc, not sent again
    assert "6 of 6 instance(s) verified" in view.message
    assert "4 sent, 2 already there" in view.message
