"""A pipeline that fails in a Celery worker, another process: its end is in the event
journal, so the server's notifications hear of it and tell the project's owner."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scandepot.access import roles
from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import Role, User
from scandepot.context import Context
from scandepot.notify import compose, dispatch
from scandepot.pipelines import jobs, wiring
from scandepot.pipelines.jobs import LaunchRequest
from tests.notify.world import emails, journal_kinds, newest_notice, notices
from tests.pipelines.conftest import archive_session, enable, real, synthetic  # noqa: F401
from tests.pipelines.test_executors import (  # noqa: F401
    Worker,
    broker,
    celery_ctx,
    wait_all_finished,
)

pytestmark = pytest.mark.interop

PASSWORD = "correct-horse-battery"


def test_a_job_failing_in_a_celery_worker_reaches_the_owner(
    celery_ctx: Context,  # noqa: F811
    synthetic: dict[str, list[Path]],  # noqa: F811
    real: dict[str, list[Path]],  # noqa: F811
    users: dict[str, User],
    client: TestClient,
    tmp_path: Path,
) -> None:
    ctx = celery_ctx
    archive_session(ctx, {"1": synthetic["t1"], "9": real["bad"]})
    roles.set_role(ctx, SYSTEM, "PIPE", "owner", Role.OWNER)
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    wiring.install(ctx)
    job = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"), scan="9")

    worker = Worker(ctx.settings, ctx.settings.celery_queue, tmp_path / "worker.log")
    try:
        [ended] = wait_all_finished(ctx, 1)
    finally:
        output = worker.stop()
    assert ended.status == "failed" and ended.worker and ended.worker.startswith("celery:"), output

    # The worker's own sender may have dispatched it already; here, as in the server,
    # whatever is left is dispatched, and the owner's notice is there either way.
    assert "JobFinished" in journal_kinds(ctx)
    dispatch.run(ctx, now=dt.datetime.now(dt.UTC))
    assert ("owner@example.org", "attention", "JobFinished") in notices(ctx)
    compose.run(ctx, now=newest_notice(ctx) + dt.timedelta(hours=1))
    [mail] = [m for m in emails(ctx) if m.target == "owner@example.org"]
    assert mail.subject == "[scandepot] Needs attention: dcm2niix failed in PIPE (E1/9)"
    assert ended.message in mail.text
    link = f"{ctx.settings.public_url}/projects/PIPE/jobs/{job.id}"
    assert link in mail.text and f'href="{link}"' in mail.html
    path = link[len(ctx.settings.public_url) :]
    assert client.get(path, auth=("owner", PASSWORD)).status_code == 200
