"""The final check of a push: what the far side holds against what was sent.

Every instance sent or found present is looked for on the far side (QIDO-RS, C-FIND,
the XNAT session's files: whatever the sender's ``held`` asks), study by study. Found:
*verified*. Not found: *failed*, "not found on the far side after sending". A far side
that cannot be reached is asked again with the same back-off as sending; when it stays
unreachable the instances stay *sent* and the push fails saying it could not check.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select, update

from scandepot.catalog.push import InstanceStatus, Push, PushInstance
from scandepot.context import Context
from scandepot.pipelines.jobrun import JobRun
from scandepot.push import tries
from scandepot.push.deliver import FAR
from scandepot.push.sending import Held, Sender, Unreachable

NOT_FOUND = "not found on the far side after sending"
_CHUNK = 500


def _to_check(ctx: Context, push_id: int) -> dict[str, dict[str, int]]:
    """Study UID -> SOP Instance UID -> row, of the instances sent or present."""
    with ctx.db.read() as db:
        rows = db.execute(
            select(PushInstance.id, PushInstance.study_uid, PushInstance.sop_uid).where(
                PushInstance.push_id == push_id,
                PushInstance.status.in_([InstanceStatus.SENT.value, InstanceStatus.PRESENT.value]),
            )
        ).all()
    studies: dict[str, dict[str, int]] = defaultdict(dict)
    for row_id, study, sop in rows:
        studies[study][sop] = row_id
    return studies


def _ask(
    ctx: Context,
    job: JobRun,
    push_id: int,
    sender: Sender,
    study: str,
    labels: list[str],
    *,
    max_attempts: int,
    retry_s: float,
) -> list[Held]:
    subject, session = (labels + ["", ""])[:2]
    while True:
        job.check()
        try:
            held = sender.held([study], subject=subject, session=session)
        except Unreachable as exc:
            tries.again(
                ctx,
                job,
                push_id,
                tries.CHECK,
                max_attempts=max_attempts,
                retry_s=retry_s,
                failed="The far side could not be asked what it holds",
                reason=f"{exc.reason}; the instances sent were not verified",
            )
            continue
        tries.count(ctx, push_id, tries.CHECK, 0)
        return held


def _commit(ctx: Context, found: list[int], missing: list[int]) -> None:
    with ctx.db.write() as db:
        for ids, values in (
            (found, {"status": InstanceStatus.VERIFIED.value}),
            (missing, {"status": InstanceStatus.FAILED.value, "reason": NOT_FOUND}),
        ):
            for start in range(0, len(ids), _CHUNK):
                db.execute(
                    update(PushInstance)
                    .where(PushInstance.id.in_(ids[start : start + _CHUNK]))
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )


def verify(
    ctx: Context, job: JobRun, push_id: int, sender: Sender, *, max_attempts: int, retry_s: float
) -> tuple[int, int]:
    """Check every sent or present instance; (verified, missing)."""
    studies = _to_check(ctx, push_id)
    with ctx.db.read() as db:
        push = db.get(Push, push_id)
        far: dict[str, list[str]] = dict(push.report.get(FAR, {})) if push else {}
    verified = missing = 0
    for study, rows in studies.items():
        labels = list(far.get(study, []))
        held = _ask(
            ctx, job, push_id, sender, study, labels, max_attempts=max_attempts, retry_s=retry_s
        )
        there = frozenset().union(*(h.sop_uids for h in held if h.study_uid == study))
        found = [row for sop, row in rows.items() if sop in there]
        lost = [row for sop, row in rows.items() if sop not in there]
        _commit(ctx, found, lost)
        verified, missing = verified + len(found), missing + len(lost)
    return verified, missing
