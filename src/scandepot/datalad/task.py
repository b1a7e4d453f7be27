"""The ``datalad`` pipeline: a session's visit metadata and dataset, deposited where the
visit store serves them, each time the session is archived (auto-launched, when the
project turns it on) or launched by hand.

Everything is made in the job's work folder first; only a run that made all four files
puts them in place, so a failure (git-annex missing on the server, a file changed
meanwhile) leaves the last deposit as it was, and the session itself is never touched.
Each run also removes the deposits of deleted sessions.
"""

from __future__ import annotations

from pathlib import Path

from scandepot.datalad import catalog, deposit, store, visits
from scandepot.pipelines.jobrun import JobRun, PipelineError


def run(run: JobRun) -> None:
    job, ctx = run, run.ctx
    assert ctx is not None
    for gone in store.prune(ctx):
        job.log(f"removed the deposit of deleted visit {gone}")
    if job.session_id is None:
        raise PipelineError("The job names no session.")
    visit = visits.by_session_id(ctx, job.session_id)
    if visit is None:
        raise PipelineError("The session was deleted.")
    timeout = float(job.parameters["timeout_s"])

    def runner(argv: list[str], env: dict[str, str]) -> None:
        job.check()
        done = job.run(argv, timeout_s=timeout, env=env)
        if done.returncode != 0:
            step = " ".join(Path(a).name for a in argv[:4])
            raise PipelineError(f"'{step}' failed (exit {done.returncode}); see the log.")

    folder = store.deposit_dir(ctx, visit.visit)
    try:
        made = deposit.make(
            visit, job.workdir, store_url=store.store_url(ctx), previous=folder, run=runner
        )
    except deposit.ToolMissing as exc:
        job.log(exc.message)
        raise PipelineError(exc.message) from None
    job.check()
    deposit.put(made, folder)
    job.log(f"deposited {', '.join(deposit.names(visit.visit))}")
    pages = catalog.rebuild(
        ctx, visit.project_id, job.workdir, store_url=store.store_url(ctx), run=runner
    )
    job.log(f"catalog pages of project {visit.project} rebuilt in {pages.name}")
    job.report.update(
        visit=visit.visit,
        files=made.dicoms,
        tarball={"size": made.tar_size, "md5": made.tar_md5},
        url=store.clone_url(ctx, visit.project, visit.visit),
    )
