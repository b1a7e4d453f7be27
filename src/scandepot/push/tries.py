"""Tries in a row of one step of a push (reaching the destination, asking the far side
what it holds, sending the clinical records), counted on the push itself, so that a job
queued again to wait (:class:`~scandepot.pipelines.jobrun.Later`) goes on counting where
it was; and the wait before the next try, which a long one spends without its worker
(:func:`scandepot.push.deliver.wait_for`)."""

from __future__ import annotations

from scandepot.catalog.push import Push
from scandepot.context import Context
from scandepot.pipelines.jobrun import JobRun, PipelineError
from scandepot.push.deliver import backoff, wait_for

TRIES = "tries"  # Push.report: {step: failed tries in a row}
REACH = "reach"
CHECK = "check"
CLINICAL = "clinical"


def count(ctx: Context, push_id: int, step: str, change: int) -> int:
    """One more failed try of ``step`` (``change`` +1), or the count started again (0);
    the count after, committed."""
    with ctx.db.write() as db:
        push = db.get(Push, push_id)
        if push is None:
            return 0
        tries = dict(push.report.get(TRIES, {}))
        tries[step] = int(tries.get(step, 0)) + change if change else 0
        push.report = {**push.report, TRIES: tries}
        return int(tries[step])


def again(
    ctx: Context,
    job: JobRun,
    push_id: int,
    step: str,
    *,
    max_attempts: int,
    retry_s: float,
    failed: str,
    reason: str,
) -> int:
    """After a failed try of ``step``: out of tries, :class:`PipelineError` ("{failed}
    after n attempt(s): {reason}"); else wait before the next, and the tries so far."""
    tried = count(ctx, push_id, step, +1)
    if tried >= max_attempts:
        raise PipelineError(f"{failed} after {tried} attempt(s): {reason}")
    seconds = backoff(retry_s, tried)
    job.log(f"{failed} ({reason}); trying again in {seconds:g} s")
    wait_for(job, seconds, f"{failed} yet ({reason})")
    return tried
