"""A transfer run by the server's own executor, in a process of its pool, with the jobs
a serving process takes (processes.py): the pipelines and the site tasks."""

from __future__ import annotations

import time
from typing import Any

import pytest

from scandepot import processes
from scandepot.access.users import actor_for
from scandepot.catalog.transfers import TransferKind
from scandepot.context import Context
from scandepot.pipelines.executors import LocalExecutor
from scandepot.transfers import service
from scandepot.transfers.requests import TransferRequest
from tests.transfers.conftest import Archive


# The pool's path does not depend on the catalog's kind: PostgreSQL, as a server uses.
@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_local_executor_runs_a_transfer_in_its_pool(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1", (1,))
    ctx.settings = ctx.settings.model_copy(update={"pipeline_poll_s": 0.2})
    owner = actor_for(users["owner"])
    executor = LocalExecutor(ctx, pipelines=processes.jobs(), workers=1)
    executor.start()
    try:
        request = TransferRequest(
            kind=TransferKind.COPY,
            source=archive.source,
            destination=archive.dest,
            sessions=["E1"],
        )
        view = service.start(ctx, owner, request)
        deadline = time.monotonic() + 60
        while not (view := service.get(ctx, owner, view.transfer.id)).finished:
            assert time.monotonic() < deadline, view.status
            time.sleep(0.1)
    finally:
        executor.stop()
    assert view.status == "succeeded" and view.verified, view.message
    assert archive.get("sessions/E1/scans").json()["total"] == 1
