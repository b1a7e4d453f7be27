"""Study and series searches walk an index a batch at a time (query.walk): pages across
batches hold every result once, in the order of the results, copies of a study in
several projects at their latest date, undated studies last."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import Project, Scan, Session
from scandepot.context import Context
from scandepot.query import bulk, walk
from scandepot.query.attributes import Level
from scandepot.query.scope import Scope
from scandepot.query.search import Query, page, search


@pytest.fixture
def copies(ctx: Context, make_project: Callable[..., str]) -> list[str]:
    """The same 12 studies in two projects (one seed: the same UIDs); in the second, four
    copies dated later than the first's and three undated in both; the expected order."""
    a, b = make_project("private"), make_project("private")
    bulk.load(ctx, a, studies=12, series=3, instances=1, seed=7, batch=5)
    bulk.load(ctx, b, studies=12, series=3, instances=1, seed=7, batch=5)
    with ctx.db.write() as db:
        in_b = select(Project.id).where(Project.label == b).scalar_subquery()
        ids = db.scalars(
            select(Session.id).where(Session.project_id == in_b).order_by(Session.id)
        ).all()
        for number, session_id in enumerate(ids[:4]):
            later = dt.date(2030, 1, 1) + dt.timedelta(days=number % 2)  # two share a day
            db.execute(update(Session).where(Session.id == session_id).values(date=later))
        undated = db.scalars(select(Session.StudyInstanceUID).where(Session.id.in_(ids[-3:]))).all()
        db.execute(update(Session).where(Session.StudyInstanceUID.in_(undated)).values(date=None))
        rows = db.execute(select(Session.StudyInstanceUID, Session.date)).all()
    latest: dict[str, dt.date | None] = {}
    for uid, day in rows:
        held = latest.get(uid)
        latest[uid] = day if held is None or (day is not None and day > held) else held
    assert len(latest) == 12  # one study of two copies each
    dated = sorted((u for u, d in latest.items() if d), key=lambda u: (latest[u], u), reverse=True)
    return dated + sorted((u for u, d in latest.items() if d is None), reverse=True)


def test_pages_across_batches_hold_each_study_once_in_order(
    ctx: Context, copies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(walk, "BATCH", 2)
    monkeypatch.setattr(walk, "MAX_BATCH", 2)
    site = Scope(SYSTEM)
    every = [str(ds.StudyInstanceUID) for ds in search(ctx, site, Query(Level.STUDY))]
    assert every == copies
    paged: list[str] = []
    for offset in range(0, 14, 3):
        found = page(ctx, site, Query(Level.STUDY, limit=3, offset=offset))
        paged += [str(ds.StudyInstanceUID) for ds in found.results]
        assert found.more == (offset + 3 < len(copies))
    assert paged == copies


def test_series_pages_across_batches_in_order(
    ctx: Context, copies: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(walk, "BATCH", 2)
    monkeypatch.setattr(walk, "MAX_BATCH", 2)
    with ctx.db.read() as db:
        rows = db.execute(select(Scan.SeriesNumber, Scan.SeriesInstanceUID)).all()
    lowest: dict[str, int] = {}
    for number, uid in rows:
        lowest[uid] = min(number, lowest.get(uid, number))
    expected = sorted(lowest, key=lambda u: (lowest[u], u))
    site = Scope(SYSTEM)
    paged: list[str] = []
    for offset in range(0, len(expected) + 5, 5):
        found = page(ctx, site, Query(Level.SERIES, limit=5, offset=offset))
        paged += [str(ds.SeriesInstanceUID) for ds in found.results]
    assert paged == expected
