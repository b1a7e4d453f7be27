"""Retention runs in every ``scandepot worker`` (and in ``serve``): two keepers on one
PostgreSQL catalog, each with its own connections as two processes have, over and over on
one due item, warn of it once, delete it once and audit it once."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from scandepot.catalog.journal import EventRecord
from scandepot.catalog.retention import RetentionWarning
from scandepot.context import Context
from scandepot.retention import run
from scandepot.retention.run import Keeper
from tests.retention.world import audited, schedule, stage, staged_ids


def eventually(done: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        time.sleep(0.05)


def warnings(ctx: Context) -> tuple[int, int]:
    """The warning rows, and the RetentionDue events in the journal."""
    with ctx.db.read() as db:
        rows = len(db.scalars(select(RetentionWarning.id)).all())
        kind = EventRecord.kind == "RetentionDue"
        events = len(db.scalars(select(EventRecord.id).where(kind)).all())
    return rows, events


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_keepers_warn_delete_and_audit_an_item_once(
    ctx: Context, make_project: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pilot = make_project("private", label="PILOT", upload_destination="prearchive")
    stage(ctx, pilot, scanned="20200302 100000")  # long past its time
    schedule(ctx, "prearchive", age_hours=48, warn_hours=12)
    runs: Counter[int] = Counter()
    real = run.run_once

    def counted(on: Context, **kwargs: Any) -> run.RunReport:
        runs[id(on)] += 1
        return real(on, **kwargs)

    monkeypatch.setattr(run, "run_once", counted)
    settings = ctx.settings.model_copy(update={"retention_interval_s": 0.02})
    contexts = [Context.from_settings(settings) for _ in range(2)]  # engines of their own
    keepers = [Keeper(c).start() for c in contexts]
    try:
        eventually(lambda: warnings(ctx) != (0, 0))
        eventually(lambda: min(runs[id(c)] for c in contexts) >= 5)  # both, again and again
        assert warnings(ctx) == (1, 1) and len(staged_ids(ctx)) == 1  # warned, not yet due

        with ctx.db.write() as db:  # the warning's time has passed
            back = dt.datetime.now(dt.UTC) - dt.timedelta(hours=13)
            db.execute(update(RetentionWarning).values(warned_at=back))
        before = dict(runs)
        eventually(lambda: staged_ids(ctx) == [])
        eventually(lambda: min(runs[id(c)] - before[id(c)] for c in contexts) >= 5)
    finally:
        for keeper in keepers:
            keeper.stop()
        for c in contexts:
            c.close()
    assert len(audited(ctx)) == 1 and warnings(ctx) == (1, 1)
