"""When an item is due for deletion under a schedule: an age, or a weekday table.

An age counts elapsed time: ``age_hours`` after the item became eligible, whatever the
clocks on the wall do meanwhile (48 hours across a change to summer time are 48 hours).

A weekday table says, for the day an item became eligible (in the site's time zone,
``site_timezone``), on which weekday it is removed: ``{"MON": "WED"}`` removes what was
scanned on Monday on the next Wednesday, at the schedule's ``remove_at`` (the site's
time, ``00:00`` unless set). "The next" is always a later date: ``MON -> TUE`` is the day
after, ``MON -> MON`` a week later. A day missing from the table keeps its items (this
schedule removes nothing eligible that day). The removal time is wall-clock time on that
date, so a change of the clocks between the two days moves nothing: "Wednesday 00:00"
stays midnight. A time the clocks skip (02:30 on the night summer time begins) is taken
as the clocks would have shown it without the jump (03:30 summer time); a time that
happens twice (the night summer time ends) is the first of the two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # date.weekday() order


def after_age(eligible_at: dt.datetime, age_hours: int) -> dt.datetime:
    return eligible_at + dt.timedelta(hours=age_hours)


def on_weekday(
    eligible_at: dt.datetime, table: Mapping[str, str], remove_at: dt.time, zone: ZoneInfo
) -> dt.datetime | None:
    """The moment (UTC) an item eligible at ``eligible_at`` is removed by ``table``, or
    None when its day is not in the table."""
    local = eligible_at.astimezone(zone)
    removed_on = table.get(DAYS[local.weekday()])
    if removed_on is None:
        return None
    days = (DAYS.index(removed_on) - local.weekday()) % 7 or 7
    day = local.date() + dt.timedelta(days=days)
    # fold=0: a repeated time is its first occurrence; zoneinfo gives a skipped time the
    # offset from before the jump (PEP 495), as the clocks would have shown it.
    wall = dt.datetime.combine(day, remove_at, tzinfo=zone).replace(fold=0)
    return wall.astimezone(dt.UTC)


def shortest_hours(table: Mapping[str, str], remove_at: dt.time) -> float:
    """The least time, in hours, from the start of a listed day to its removal: a warning
    must be shorter than this to reach anyone in time."""
    spans = [
        ((DAYS.index(to) - DAYS.index(day)) % 7 or 7) * 24 + remove_at.hour + remove_at.minute / 60
        for day, to in table.items()
    ]
    return min(spans) if spans else 0.0
