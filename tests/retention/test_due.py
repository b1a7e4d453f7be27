"""When an item is due: an age counts elapsed hours; a weekday table goes by the site's
calendar and wall clock, so a change to or from summer time moves nothing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from scandepot.retention import due

AMS = ZoneInfo("Europe/Amsterdam")  # summer time from 2026-03-29 02:00 to 2026-10-25 03:00


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_scanned_monday_removed_wednesday_at_the_start_of_the_day() -> None:
    # Monday 2026-03-02 14:00 in Amsterdam (13:00 UTC): Wednesday 00:00 there, 23:00 UTC.
    at = due.on_weekday(utc("2026-03-02 13:00"), {"MON": "WED"}, dt.time(0, 0), AMS)
    assert at == utc("2026-03-03 23:00")


def test_the_day_is_the_sites_not_utcs() -> None:
    # 23:30 UTC on Sunday is already Monday in Amsterdam: removed by MON's entry.
    at = due.on_weekday(utc("2026-03-01 23:30"), {"MON": "TUE", "SUN": "SAT"}, dt.time(6), AMS)
    assert at == utc("2026-03-03 05:00")


def test_a_day_not_in_the_table_is_kept() -> None:
    assert due.on_weekday(utc("2026-03-03 10:00"), {"MON": "WED"}, dt.time(0), AMS) is None


def test_the_same_weekday_is_a_week_later() -> None:
    at = due.on_weekday(utc("2026-03-02 10:00"), {"MON": "MON"}, dt.time(0), AMS)
    assert at == utc("2026-03-08 23:00")


def test_across_the_start_of_summer_time_the_wall_clock_holds() -> None:
    # Scanned Saturday 2026-03-28 (winter time), removed Monday 00:00 (summer time):
    # 22:00 UTC, not the 23:00 that adding 48 hours to a winter midnight would give.
    at = due.on_weekday(utc("2026-03-28 09:00"), {"SAT": "MON"}, dt.time(0), AMS)
    assert at == utc("2026-03-29 22:00")
    assert at.astimezone(AMS).replace(tzinfo=None) == dt.datetime(2026, 3, 30, 0, 0)


def test_across_the_end_of_summer_time_the_wall_clock_holds() -> None:
    at = due.on_weekday(utc("2026-10-24 09:00"), {"SAT": "MON"}, dt.time(0), AMS)
    assert at == utc("2026-10-25 23:00")


def test_a_time_the_clocks_skip_is_read_as_if_they_had_not() -> None:
    # 02:30 does not exist on 2026-03-29 in Amsterdam: 03:30 summer time, 01:30 UTC.
    at = due.on_weekday(utc("2026-03-28 09:00"), {"SAT": "SUN"}, dt.time(2, 30), AMS)
    assert at == utc("2026-03-29 01:30")


def test_a_time_that_happens_twice_is_the_first() -> None:
    # 02:30 happens twice on 2026-10-25 in Amsterdam: first in summer time, 00:30 UTC.
    at = due.on_weekday(utc("2026-10-24 09:00"), {"SAT": "SUN"}, dt.time(2, 30), AMS)
    assert at == utc("2026-10-25 00:30")


def test_an_age_is_elapsed_time_across_the_change_of_the_clocks() -> None:
    assert due.after_age(utc("2026-03-28 09:00"), 48) == utc("2026-03-30 09:00")


def test_the_shortest_time_a_table_keeps_an_item() -> None:
    assert due.shortest_hours({"MON": "WED", "FRI": "SAT"}, dt.time(6, 30)) == 30.5
    assert due.shortest_hours({"MON": "MON"}, dt.time(0)) == 168
