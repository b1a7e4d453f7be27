"""Sending a push's pending instances: batches in flight, retries with back-off, resume.

The pending instances go in rounds. In a round they are cut into batches of one study
each, and ``destination.concurrency`` threads take batches: each reads and de-identifies
its instances, commits their outgoing UIDs (so that a run killed after sending knows
what to ask the far side about), asks the far side what it holds of the study (once a
round per study), marks what it holds already *present* without sending it, sends the
rest, and commits each instance's outcome. An instance the peer refused for good is
*failed* with the peer's reason; one the script refused is *refused*. A temporary error
(:class:`~scandepot.push.sending.Unreachable`, or an answer that says trying again may
help) costs the instance one attempt and leaves it pending for the next round, which
starts after a back-off that doubles each round; an instance out of attempts is failed
with the last reason. Every round ends each pending instance or costs it an attempt, so
the rounds end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sqlalchemy import update

from scandepot.catalog.push import InstanceStatus, Push, PushInstance
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.export.deidentified import Deidentifier, Refusal
from scandepot.pipelines.jobrun import JobRun, Later
from scandepot.push import outgoing
from scandepot.push.outgoing import Pending
from scandepot.push.sending import Outgoing, Sender, Sent, Unreachable

log = logging.getLogger("scandepot.push")

BATCH = 32  # instances in one send at most
BATCH_BYTES = 32 * 1024 * 1024  # and stored bytes in one send at most
# The longest wait between tries, as the outbox's (notify/): an hour.
MAX_BACKOFF_S = 3600.0
# A wait this long or longer gives the job's worker back (jobrun.Later) rather than
# holding it asleep: a destination down for hours does not hold a slot of the pool.
LATER_S = 30.0
FAR = "far_labels"  # Push.report: study UID -> [subject, session] on the far side


def backoff(first_s: float, attempt: int) -> float:
    """The wait before try ``attempt`` + 1 (``attempt`` >= 1): doubled each time."""
    return float(min(first_s * 2 ** (attempt - 1), MAX_BACKOFF_S))


def pause(job: JobRun, seconds: float) -> None:
    """Wait, stopping at once on a cancel or a lost claim."""
    job.stop.wait(seconds)
    job.check()


@dataclass
class Tally:
    """What one run sent, for the report."""

    sent: int = 0
    present: int = 0
    refused: int = 0
    failed: int = 0
    retried: int = 0
    bytes_sent: int = 0
    rounds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


class Holdings:
    """What the far side holds, asked once a round per study. The labels a study goes
    under on the far side are kept in the push's report as it is first seen (the final
    check asks by them, after a restart too)."""

    def __init__(self, ctx: Context, push_id: int, sender: Sender) -> None:
        self.ctx, self.push_id, self.sender = ctx, push_id, sender
        self.lock = threading.Lock()
        self.known: dict[str, frozenset[str]] = {}

    def of(self, out: Outgoing) -> frozenset[str]:
        with self.lock:
            if out.study_uid not in self.known:
                found = self.sender.held([out.study_uid], subject=out.subject, session=out.session)
                self.known[out.study_uid] = frozenset().union(*(h.sop_uids for h in found))
                self._label(out)
            return self.known[out.study_uid]

    def _label(self, out: Outgoing) -> None:
        with self.ctx.db.write() as db:
            push = db.get(Push, self.push_id)
            assert push is not None
            far = dict(push.report.get(FAR, {}))
            if far.get(out.study_uid) != [out.subject, out.session]:
                far[out.study_uid] = [out.subject, out.session]
                push.report = {**push.report, FAR: far}


@dataclass
class Round:
    ctx: Context
    job: JobRun
    push_id: int
    sender: Sender
    deid: Deidentifier | None
    max_attempts: int
    tally: Tally
    holdings: Holdings
    abort: threading.Event = field(default_factory=threading.Event)


def batches(items: Sequence[Pending]) -> Iterator[list[Pending]]:
    """``items`` (sorted by study) cut into batches of one study each."""
    batch: list[Pending] = []
    size = 0
    for item in items:
        if batch and (
            item.source_study != batch[0].source_study or len(batch) >= BATCH or size >= BATCH_BYTES
        ):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.path.stat().st_size if item.path.exists() else 0
    if batch:
        yield batch


def _mark(ctx: Context, push_id: int, changes: dict[int, dict[str, object]], done: int) -> None:
    """Commit the rows' changes and the push's count of instances done, together."""
    if not changes:
        return
    with ctx.db.write() as db:
        for row_id, values in changes.items():
            db.execute(
                update(PushInstance)
                .where(PushInstance.id == row_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if done:
            db.execute(
                update(Push)
                .where(Push.id == push_id)
                .values(instances_done=Push.instances_done + done)
                .execution_options(synchronize_session=False)
            )


def _prepare(
    r: Round, batch: list[Pending]
) -> tuple[list[tuple[Pending, Outgoing]], dict[int, dict[str, object]]]:
    """Each instance made ready (or refused); the outgoing UIDs of those that had none
    yet are committed before anything is sent."""
    ready: list[tuple[Pending, Outgoing]] = []
    refused: dict[int, dict[str, object]] = {}
    uids: dict[int, dict[str, object]] = {}
    for item in batch:
        made = outgoing.make(r.deid, item)
        if isinstance(made, Refusal):
            # A file that cannot be read or is not DICOM is a failure of the archive (or of
            # the engine), not the script's no: the push does not succeed with it.
            failed = made.code in ("unreadable", "not_dicom")
            status = InstanceStatus.FAILED if failed else InstanceStatus.REFUSED
            refused[item.row_id] = {
                "status": status.value,
                "reason": f"{made.code}: {made.message}"[:1024],
            }
            continue
        ready.append((item, made))
        if item.sop_uid != made.sop_uid:
            uids[item.row_id] = {
                "study_uid": made.study_uid,
                "series_uid": made.series_uid,
                "sop_uid": made.sop_uid,
            }
    _mark(r.ctx, r.push_id, uids, 0)
    return ready, refused


def _outcome(r: Round, item: Pending, answer: Sent | None, reason: str) -> dict[str, object]:
    """A row's change after a send: sent, failed for good, or one attempt spent."""
    if answer is not None and answer.stored:
        return {"status": InstanceStatus.SENT.value, "sent_at": utcnow(), "reason": ""}
    attempts = item.attempts + 1
    why = (answer.reason if answer is not None else reason) or "no reason given"
    temporary = answer is None or answer.temporary
    if temporary and attempts < r.max_attempts:
        return {"attempts": attempts, "reason": f"tried {attempts} time(s): {why}"[:1024]}
    if temporary:
        why = f"gave up after {attempts} attempt(s): {why}"
    return {"status": InstanceStatus.FAILED.value, "attempts": attempts, "reason": why[:1024]}


def _one_batch(r: Round, batch: list[Pending]) -> None:
    if r.abort.is_set():
        return
    r.job.check()
    ready, changes = _prepare(r, batch)
    answers: dict[int, Sent | None] = {}
    reason = ""
    to_send: list[tuple[Pending, Outgoing]] = []
    try:
        if ready:
            held = r.holdings.of(ready[0][1])
            for item, out in ready:
                if out.sop_uid in held:
                    changes[item.row_id] = {"status": InstanceStatus.PRESENT.value, "reason": ""}
                else:
                    to_send.append((item, out))
        if to_send:
            sent = r.sender.send([out for _item, out in to_send])
            answers = {item.row_id: a for (item, _out), a in zip(to_send, sent, strict=True)}
    except Unreachable as exc:
        reason = f"unreachable: {exc.reason}"
    for item, out in to_send:
        change = _outcome(r, item, answers.get(item.row_id), reason)
        changes[item.row_id] = change
        if change.get("status") == InstanceStatus.SENT.value:
            r.tally.add(sent=1, bytes_sent=len(out.data))
        elif change.get("status") == InstanceStatus.FAILED.value:
            r.tally.add(failed=1)
        else:
            r.tally.add(retried=1)
    if not to_send and reason:  # the far side could not say what it holds: try again
        for item, _out in ready:
            changes[item.row_id] = _outcome(r, item, None, reason)
            r.tally.add(retried=1)
    statuses = [c.get("status") for c in changes.values()]
    r.tally.add(
        present=statuses.count(InstanceStatus.PRESENT.value),
        refused=statuses.count(InstanceStatus.REFUSED.value),
    )
    _mark(r.ctx, r.push_id, changes, sum(s is not None for s in statuses))


def one_round(r: Round, items: Sequence[Pending], threads: int) -> None:
    """Every pending instance once through the sender, ``threads`` batches at a time;
    the first error (a cancel, a refused credential, a bug) stops the others."""
    r.tally.add(rounds=1)
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="push") as pool:
        futures = [pool.submit(_one_batch, r, b) for b in batches(items)]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            r.abort.set()
            for f in futures:
                f.cancel()
            wait(futures)
            error = failed[0].exception()
            assert error is not None
            raise error


def deliver(
    ctx: Context,
    job: JobRun,
    push_id: int,
    sender: Sender,
    deid: Deidentifier | None,
    *,
    threads: int,
    max_attempts: int,
    retry_s: float,
    on_round: Callable[[int, int], None] = lambda _round, _pending: None,
) -> Tally:
    """Send until no instance is pending (see the module docstring). A wait of
    :data:`LATER_S` or more is not waited in the job: it raises
    :class:`~scandepot.pipelines.jobrun.Later`, and the job is queued again for then,
    its worker free meanwhile; the instances' attempts, which the waits grow with, are
    committed, so the back-off goes on where it was."""
    tally = Tally()
    rounds = 0
    items = outgoing.pending(ctx, push_id)
    while items:
        rounds += 1
        on_round(rounds, len(items))
        holdings = Holdings(ctx, push_id, sender)
        r = Round(ctx, job, push_id, sender, deid, max_attempts, tally, holdings)
        one_round(r, items, threads)
        items = outgoing.pending(ctx, push_id)
        if items:
            seconds = backoff(retry_s, max(i.attempts for i in items))
            wait_for(job, seconds, f"{len(items)} instance(s) not sent yet")
    return tally


def wait_for(job: JobRun, seconds: float, why: str) -> None:
    """Wait before the next try: in the job when it is short, else queued again (``why``:
    what the job's record says meanwhile)."""
    if seconds >= LATER_S:
        raise Later(seconds, f"{why}; trying again in {seconds:g} s")
    pause(job, seconds)
