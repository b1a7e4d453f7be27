"""Retention schedules: per staging area, for every project and scanner or for one.

A schedule is an age (``age_hours`` or ``age_days``) or a weekday table (``weekdays``,
``remove_at``; see :mod:`scandepot.retention.due`), and a warning time (``warn_hours``,
0: none) shorter than the least time any item gets. For an item the most specific
enabled schedule of its area holds: one for its project and scanner, then one for its
scanner (the 7 T's disk is the scanner's, whatever the project), then one for its
project, then the area's own. An item no schedule covers is kept.
Site administrators alone see and change schedules; each change is audited.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import require_site_admin
from scandepot.catalog.archive import Project
from scandepot.catalog.labels import by_label
from scandepot.catalog.retention import RetentionSchedule
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid, NotFound
from scandepot.retention import due
from scandepot.retention.areas import AreaName, Item, area_name

MAX_HOURS = 24 * 366 * 10  # ten years: anything longer is a typing slip
_SCANNER = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,64}$")  # an AE title or a Station Name
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_NAMES = {
    **{d: d for d in due.DAYS},
    **{
        full: d
        for full, d in zip(
            ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"),
            due.DAYS,
            strict=True,
        )
    },
}


class ScheduleIn(BaseModel):
    """A schedule as given: an age in hours or days, or a weekday table."""

    model_config = ConfigDict(extra="forbid")

    area: str
    project: str | None = None
    scanner: str | None = None
    age_hours: int | None = None
    age_days: int | None = None
    weekdays: dict[str, str] | None = None
    remove_at: str | None = None
    warn_hours: int = 0
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ScheduleView:
    id: int
    area: str
    project: str | None
    scanner: str | None
    age_hours: int | None
    weekdays: dict[str, str] | None
    remove_at: str | None
    warn_hours: int
    enabled: bool
    rule: str  # as people read it: "after 48 hours", "scanned MON: removed WED 00:00"
    changed_by: str
    changed_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Checked:
    area: AreaName
    project: str
    scanner: str
    age_hours: int | None
    weekdays: dict[str, str] | None
    remove_at: str | None
    warn_hours: int
    enabled: bool


def _day(value: str) -> str:
    day = _NAMES.get(value.strip().upper())
    if day is None:
        raise Invalid(
            f"'{value}' is no day of the week (MON, TUE, WED, THU, FRI, SAT, SUN).",
            field="weekdays",
        )
    return day


def _table(given: dict[str, str]) -> dict[str, str]:
    if not given:
        raise Invalid("A weekday table names at least one day.", field="weekdays")
    table: dict[str, str] = {}
    for scanned, removed in given.items():
        day = _day(scanned)
        if day in table:
            raise Invalid(f"{day} is named twice.", field="weekdays")
        table[day] = _day(removed)
    return {d: table[d] for d in due.DAYS if d in table}


def parse_table(text: str) -> dict[str, str]:
    """A weekday table as typed: ``MON=WED, FRI=MON`` (or ``->``, ``:`` between)."""
    table: dict[str, str] = {}
    for part in re.split(r"[,;\n]+", text):
        if not part.strip():
            continue
        pair = re.split(r"\s*(?:=|->|:)\s*", part.strip())
        if len(pair) != 2 or not all(pair):
            raise Invalid(f"'{part.strip()}' is not DAY=DAY (MON=WED).", field="weekdays")
        table[pair[0]] = pair[1]
    return table


def _age(data: ScheduleIn) -> int:
    for name, value, per in (("age_hours", data.age_hours, 1), ("age_days", data.age_days, 24)):
        if value is None:
            continue
        if value <= 0 or value * per > MAX_HOURS:
            raise Invalid(f"{name} must be above 0 and at most ten years.", field=name)
        return value * per
    raise AssertionError("no age given")


def check(db: DBSession, data: ScheduleIn) -> Checked:
    """The schedule, checked; a clear :class:`Invalid` naming the field otherwise."""
    area = area_name(data.area)
    ages = [a for a in (data.age_hours, data.age_days) if a is not None]
    if len(ages) + (data.weekdays is not None) != 1:
        raise Invalid(
            "Give one of age_hours, age_days or a weekday table (weekdays).", field="age_hours"
        )
    if data.warn_hours < 0 or data.warn_hours > MAX_HOURS:
        raise Invalid("warn_hours must be 0 or more (0: no warning).", field="warn_hours")
    age_hours, table, remove_at = None, None, None
    if data.weekdays is not None:
        table = _table(data.weekdays)
        remove_at = _remove_at(data.remove_at or "00:00")
        least = due.shortest_hours(table, time_of(remove_at))
        if data.warn_hours >= least:
            raise Invalid(
                f"warn_hours ({data.warn_hours}) must be shorter than the least time the "
                f"table keeps an item ({least:g} hours from the start of its day).",
                field="warn_hours",
            )
    else:
        if data.remove_at is not None:
            raise Invalid("remove_at goes with a weekday table only.", field="remove_at")
        age_hours = _age(data)
        if data.warn_hours >= age_hours:
            raise Invalid(
                f"warn_hours ({data.warn_hours}) must be shorter than the age ({age_hours} hours).",
                field="warn_hours",
            )
    project = _project(db, data.project)
    scanner = (data.scanner or "").strip()
    if scanner and not _SCANNER.match(scanner):
        raise Invalid(
            "scanner is an AE title or a Station Name (printable, at most 64).", field="scanner"
        )
    return Checked(
        area, project, scanner, age_hours, table, remove_at, data.warn_hours, data.enabled
    )


def _remove_at(value: str) -> str:
    if not _TIME.match(value.strip()):
        raise Invalid(
            f"remove_at '{value}' is no time of day as HH:MM (24 hours).", field="remove_at"
        )
    return value.strip()


def time_of(value: str) -> dt.time:
    hours, minutes = value.split(":")
    return dt.time(int(hours), int(minutes))


def _project(db: DBSession, label: str | None) -> str:
    if not label or not label.strip():
        return ""
    found = db.scalar(by_label(select(Project.label), Project.label, label.strip()))
    if found is None:
        raise Invalid(f"No project '{label}'.", field="project")
    return str(found)


def view(row: RetentionSchedule) -> ScheduleView:
    return ScheduleView(
        row.id,
        row.area,
        row.project or None,
        row.scanner or None,
        row.age_hours,
        dict(row.weekdays) if row.weekdays is not None else None,
        row.remove_at,
        row.warn_hours,
        row.enabled,
        rule_text(row),
        row.changed_by,
        row.changed_at,
    )


def rule_text(row: RetentionSchedule) -> str:
    if row.age_hours is not None:
        hours = row.age_hours
        return f"after {hours // 24} days" if hours % 24 == 0 else f"after {hours} hours"
    pairs = ", ".join(f"{d} -> {r}" for d, r in (row.weekdays or {}).items())
    return f"scanned {pairs}, at {row.remove_at or '00:00'}"


def list_schedules(ctx: Context, actor: Actor) -> list[ScheduleView]:
    require_site_admin(actor)
    with ctx.db.read() as db:
        return [view(r) for r in _all(db)]


def _all(db: DBSession) -> Sequence[RetentionSchedule]:
    order = (RetentionSchedule.area, RetentionSchedule.project, RetentionSchedule.scanner)
    return db.scalars(select(RetentionSchedule).order_by(*order)).all()


def save(
    ctx: Context, actor: Actor, data: ScheduleIn, *, schedule_id: int | None = None
) -> ScheduleView:
    """Add a schedule, or (``schedule_id``) change one; one per area, project, scanner."""
    require_site_admin(actor)
    try:
        with ctx.db.write() as db:
            checked = check(db, data)
            row = RetentionSchedule() if schedule_id is None else _load(db, schedule_id)
            for name, value in _columns(checked).items():
                setattr(row, name, value)
            row.changed_by = actor.login
            db.add(row)
            db.flush()
            audit.record(
                db,
                actor,
                AuditAction.RETENTION_SCHEDULE_SAVED,
                project=checked.project or None,
                target=f"retention_schedule:{row.id}",
                area=checked.area.value,
                scanner=checked.scanner or None,
                rule=rule_text(row),
                warn_hours=checked.warn_hours,
                enabled=checked.enabled,
            )
            return view(row)
    except IntegrityError:
        raise Conflict(
            "A schedule for this area, project and scanner exists already; change it instead.",
            field="area",
        ) from None


def _columns(checked: Checked) -> dict[str, Any]:
    return {
        "area": checked.area.value,
        "project": checked.project,
        "scanner": checked.scanner,
        "age_hours": checked.age_hours,
        "weekdays": checked.weekdays,
        "remove_at": checked.remove_at,
        "warn_hours": checked.warn_hours,
        "enabled": checked.enabled,
    }


def _load(db: DBSession, schedule_id: int) -> RetentionSchedule:
    row = db.get(RetentionSchedule, schedule_id) if 0 < schedule_id < 2**31 else None
    if row is None:
        raise NotFound(f"Retention schedule {schedule_id} not found.", field="id")
    return row


def remove(ctx: Context, actor: Actor, schedule_id: int) -> None:
    require_site_admin(actor)
    with ctx.db.write() as db:
        row = _load(db, schedule_id)
        audit.record(
            db,
            actor,
            AuditAction.RETENTION_SCHEDULE_REMOVED,
            project=row.project or None,
            target=f"retention_schedule:{row.id}",
            area=row.area,
            scanner=row.scanner or None,
            rule=rule_text(row),
        )
        db.delete(row)


# -- which schedule holds for an item, and when it is due ------------------------------


def enabled(db: DBSession) -> list[RetentionSchedule]:
    return list(db.scalars(select(RetentionSchedule).where(RetentionSchedule.enabled.is_(True))))


def for_item(schedules: Sequence[RetentionSchedule], item: Item) -> RetentionSchedule | None:
    """The most specific enabled schedule of the item's area that covers it."""
    project = (item.project or "").lower()
    scanner = (item.scanner or "").strip().lower()
    best: tuple[int, RetentionSchedule] | None = None
    for s in schedules:
        if s.area != item.area.value:
            continue
        if s.project and s.project.lower() != project:
            continue
        if s.scanner and s.scanner.lower() != scanner:
            continue
        rank = 2 * bool(s.scanner) + bool(s.project)
        if best is None or rank > best[0]:
            best = (rank, s)
    return best[1] if best else None


def due_at(schedule: RetentionSchedule, item: Item, zone: ZoneInfo) -> dt.datetime | None:
    """When ``item`` is due under ``schedule`` (UTC), or None: never by it."""
    if schedule.age_hours is not None:
        return due.after_age(item.eligible_at, schedule.age_hours)
    at = time_of(schedule.remove_at or "00:00")
    return due.on_weekday(item.eligible_at, schedule.weekdays or {}, at, zone)
