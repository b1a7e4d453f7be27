"""The plan: every item a schedule covers, when it is due, when it will be deleted, whether
its people were warned and whether it is held, soonest first.

An item is deleted at the time its schedule gives, but never sooner than ``warn_hours``
after its warning went out: a run that was down when the warning was due, or an item
that arrived already late (a study sent days after it was scanned), gets its full
warning time, and the plan shows the later time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select

from scandepot.access.actors import Actor
from scandepot.access.permissions import require_site_admin
from scandepot.catalog.retention import RetentionHold, RetentionWarning
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.retention import schedules
from scandepot.retention.areas import Area, Item
from scandepot.retention.drops import DropSource
from scandepot.retention.registry import areas


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    held_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Planned:
    item: Item
    schedule_id: int
    rule: str
    warn_hours: int
    due_at: dt.datetime  # as the schedule says
    delete_at: dt.datetime  # not before the warning time has passed since the warning
    warn_at: dt.datetime | None  # None: the schedule warns no one
    warned_at: dt.datetime | None
    hold: Hold | None

    @property
    def warning_due(self) -> bool:
        return self.warn_at is not None and self.warned_at is None


def delete_at(
    due_at: dt.datetime, warn_hours: int, warned_at: dt.datetime | None, now: dt.datetime
) -> dt.datetime:
    if warn_hours == 0:
        return due_at
    warn = dt.timedelta(hours=warn_hours)
    return max(due_at, (warned_at or now) + warn)


def compute(
    ctx: Context, *, now: dt.datetime, drops: DropSource | None = None
) -> list[tuple[Area, Planned]]:
    """The plan with the area of each item (for the run)."""
    zone = ZoneInfo(ctx.settings.site_timezone)
    found = [(area, item) for area in areas(drops=drops) for item in area.items(ctx)]
    with ctx.db.read() as db:
        active = schedules.enabled(db)
        holds = {
            (h.area, h.item_key): Hold(h.id, h.held_by, h.reason)
            for h in db.scalars(select(RetentionHold))
        }
        warned = {
            (w.area, w.item_key, w.due_at): w.warned_at
            for w in db.scalars(select(RetentionWarning))
        }
    planned = []
    for area, item in found:
        schedule = schedules.for_item(active, item)
        if schedule is None:
            continue
        due = schedules.due_at(schedule, item, zone)
        if due is None:
            continue
        sent = warned.get((item.area.value, item.key, due))
        warn_at = due - dt.timedelta(hours=schedule.warn_hours) if schedule.warn_hours else None
        planned.append(
            (
                area,
                Planned(
                    item,
                    schedule.id,
                    schedules.rule_text(schedule),
                    schedule.warn_hours,
                    due,
                    delete_at(due, schedule.warn_hours, sent, now),
                    warn_at,
                    sent,
                    holds.get((item.area.value, item.key)),
                ),
            )
        )
    planned.sort(key=lambda pair: (pair[1].delete_at, pair[1].item.area, pair[1].item.key))
    return planned


def plan(
    ctx: Context,
    actor: Actor,
    *,
    now: dt.datetime | None = None,
    drops: DropSource | None = None,
) -> list[Planned]:
    """What will be deleted next and when (site administrators)."""
    require_site_admin(actor)
    return [entry for _area, entry in compute(ctx, now=now or utcnow(), drops=drops)]
