"""Schedules: bad input refused naming the field, nothing saved; one schedule per area,
project and scanner; the most specific one holds for an item; site administrators only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM, Actor
from scandepot.catalog.retention import RetentionSchedule
from scandepot.context import Context
from scandepot.errors import Conflict, Forbidden, Invalid
from scandepot.retention import schedules
from scandepot.retention.areas import AreaName, Item
from scandepot.retention.schedules import ScheduleIn
from tests.retention.world import audited, schedule, utc

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"area": "attic", "age_hours": 1}, "area", "No staging area 'attic'"),
    ({"area": "prearchive", "age_hours": -3}, "age_hours", "above 0"),
    ({"area": "prearchive", "age_hours": 0}, "age_hours", "above 0"),
    ({"area": "prearchive", "age_days": -1}, "age_days", "above 0"),
    ({"area": "prearchive"}, "age_hours", "Give one of"),
    (
        {"area": "prearchive", "age_hours": 4, "weekdays": {"MON": "WED"}},
        "age_hours",
        "Give one of",
    ),
    ({"area": "prearchive", "weekdays": {"Funday": "WED"}}, "weekdays", "'Funday' is no day"),
    ({"area": "prearchive", "weekdays": {"MON": "Caturday"}}, "weekdays", "'Caturday'"),
    ({"area": "prearchive", "weekdays": {}}, "weekdays", "at least one day"),
    (
        {"area": "prearchive", "weekdays": {"MON": "WED", "monday": "THU"}},
        "weekdays",
        "MON is named twice",
    ),
    ({"area": "prearchive", "weekdays": {"MON": "WED"}, "remove_at": "25:00"}, "remove_at", ""),
    ({"area": "prearchive", "age_hours": 5, "remove_at": "06:00"}, "remove_at", "weekday"),
    ({"area": "prearchive", "age_hours": 24, "warn_hours": 24}, "warn_hours", "shorter"),
    ({"area": "prearchive", "age_days": 1, "warn_hours": 30}, "warn_hours", "(24 hours)"),
    ({"area": "prearchive", "age_hours": 24, "warn_hours": -1}, "warn_hours", "0 or more"),
    # MON -> TUE at 00:00 keeps an item as little as 24 hours from the start of Monday.
    ({"area": "prearchive", "weekdays": {"MON": "TUE"}, "warn_hours": 24}, "warn_hours", ""),
    ({"area": "prearchive", "age_hours": 2, "project": "NOPE"}, "project", "No project"),
    ({"area": "prearchive", "age_hours": 2, "scanner": "bad\\name"}, "scanner", ""),
]


@pytest.mark.parametrize(
    ("given", "field", "said"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_input_is_refused_naming_the_field(
    ctx: Context, given: dict[str, Any], field: str, said: str
) -> None:
    with pytest.raises(Invalid) as refused:
        schedules.save(ctx, SYSTEM, ScheduleIn(**given))
    assert refused.value.field == field
    assert said in refused.value.message
    with ctx.db.read() as db:
        assert db.scalar(select(RetentionSchedule.id)) is None
    assert audited(ctx, "retention.schedule_saved") == []


def test_a_schedule_is_saved_changed_and_removed_with_audit(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    pilot = make_project(label="PILOT")
    made = schedule(ctx, "Prearchive", project="pilot", age_days=2, warn_hours=12)
    assert (made.area, made.project, made.age_hours, made.rule) == (
        "prearchive",
        pilot,
        48,
        "after 2 days",
    )
    with pytest.raises(Conflict):
        schedule(ctx, "prearchive", project=pilot, age_hours=5)
    table = ScheduleIn(area="prearchive", project=pilot, weekdays={"monday": "wed"})
    changed = schedules.save(ctx, SYSTEM, table, schedule_id=made.id)
    assert changed.weekdays == {"MON": "WED"} and changed.age_hours is None
    assert changed.rule == "scanned MON -> WED, at 00:00"
    schedules.remove(ctx, SYSTEM, made.id)
    assert schedules.list_schedules(ctx, SYSTEM) == []
    saved = [e.detail["rule"] for e in audited(ctx, "retention.schedule_saved")]
    assert saved == ["after 2 days", "scanned MON -> WED, at 00:00"]
    assert len(audited(ctx, "retention.schedule_removed")) == 1


def test_only_site_administrators_see_or_change_schedules(ctx: Context) -> None:
    owner = Actor(user_id=5, login="owner")
    with pytest.raises(Forbidden):
        schedules.list_schedules(ctx, owner)
    with pytest.raises(Forbidden):
        schedules.save(ctx, owner, ScheduleIn(area="prearchive", age_hours=3))


def _item(project: str | None, scanner: str | None) -> Item:
    return Item(AreaName.PREARCHIVE, "1:1.2", "x", project, utc("2026-03-02 10:00"), 1, scanner)


def test_the_most_specific_schedule_holds(ctx: Context, make_project: Callable[..., str]) -> None:
    pilot = make_project(label="PILOT")
    every = schedule(ctx, "prearchive", age_days=14)
    project = schedule(ctx, "prearchive", project=pilot, age_days=7)
    seven_t = schedule(ctx, "prearchive", scanner="MR7T", age_hours=24)
    both = schedule(ctx, "prearchive", project=pilot, scanner="MR7T", age_hours=12)
    schedule(ctx, "unassigned", age_hours=1)
    with ctx.db.read() as db:
        active = schedules.enabled(db)
    chosen = {
        (p, s): schedules.for_item(active, _item(p, s)).id  # type: ignore[union-attr]
        for p, s in ((None, None), (pilot, "MR1"), ("OTHER", "mr7t"), (pilot, "MR7T"))
    }
    assert chosen == {
        (None, None): every.id,
        (pilot, "MR1"): project.id,
        ("OTHER", "mr7t"): seven_t.id,
        (pilot, "MR7T"): both.id,
    }


def test_a_disabled_schedule_covers_nothing(ctx: Context) -> None:
    schedule(ctx, "prearchive", age_hours=3, enabled=False)
    with ctx.db.read() as db:
        assert schedules.for_item(schedules.enabled(db), _item(None, None)) is None


def test_the_rule_of_a_weekday_schedule_is_read_in_the_sites_zone(ctx: Context) -> None:
    ctx.settings.site_timezone = "Europe/Amsterdam"
    schedule(ctx, "prearchive", weekdays={"MON": "WED"}, remove_at="06:00")
    with ctx.db.read() as db:
        (row,) = schedules.enabled(db)
    from zoneinfo import ZoneInfo

    at = schedules.due_at(row, _item(None, None), ZoneInfo(ctx.settings.site_timezone))
    assert at == utc("2026-03-04 05:00")
    assert at - _item(None, None).eligible_at == dt.timedelta(hours=43)
