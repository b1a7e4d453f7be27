"""The ``datalad`` pipeline's faults, below HTTP: a server without git-annex fails the job
with the reason in its log, and leaves the session and its tarball as they were."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scandepot.access.actors import SYSTEM
from scandepot.catalog.pipelines import JobStatus
from scandepot.context import Context
from scandepot.datalad import store, task, visits
from scandepot.pipelines import jobs
from scandepot.pipelines.jobs import LaunchRequest
from tests.datalad.conftest import Archived
from tests.pipelines.conftest import enable, run_queued


def test_without_git_annex_the_job_fails_saying_so_and_nothing_else_changes(
    ctx: Context, visit: Archived, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PATH with git (found where it is) and no git-annex: a server that lacks the package.
    bare = tmp_path / "bin"
    bare.mkdir()
    git = next(
        Path(d, "git") for d in os.environ["PATH"].split(os.pathsep) if Path(d, "git").is_file()
    )
    (bare / "git").symlink_to(git)
    monkeypatch.setenv("PATH", str(bare))
    enable(ctx, visit.project, "datalad", auto=False)
    before = visits.get(ctx, SYSTEM, visit.project, visit.visit)
    job = jobs.launch(ctx, SYSTEM, visit.project, visit.session, LaunchRequest("datalad"))
    assert run_queued(ctx, pipelines={"datalad": task.run}) == [JobStatus.FAILED]
    ended = jobs.get(ctx, SYSTEM, visit.project, job.id)
    assert "git-annex is not installed on this server" in ended.message
    assert "git-annex is not installed on this server" in (ended.log or "")
    assert not store.deposit_dir(ctx, visit.visit).exists()
    assert visits.get(ctx, SYSTEM, visit.project, visit.visit) == before
