"""/api/v1/admin/retention: the plan of the staging areas' deletions, schedules, holds,
and a run now; for site administrators."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from scandepot.api.deps import ActorDep, CtxDep
from scandepot.retention import holds, plan, run, schedules
from scandepot.retention.holds import HoldIn, HoldView
from scandepot.retention.plan import Planned
from scandepot.retention.schedules import ScheduleIn, ScheduleView

router = APIRouter(prefix="/admin/retention", tags=["retention"])


class PlannedOut(BaseModel):
    area: str
    key: str
    description: str
    project: str | None
    scanner: str | None
    size: int
    eligible_at: dt.datetime
    schedule: int
    rule: str
    due_at: dt.datetime
    delete_at: dt.datetime
    warn_at: dt.datetime | None
    warned_at: dt.datetime | None
    held: bool
    hold_id: int | None
    held_by: str | None


def _planned(p: Planned) -> PlannedOut:
    i = p.item
    return PlannedOut(
        area=i.area.value,
        key=i.key,
        description=i.description,
        project=i.project,
        scanner=i.scanner,
        size=i.size,
        eligible_at=i.eligible_at,
        schedule=p.schedule_id,
        rule=p.rule,
        due_at=p.due_at,
        delete_at=p.delete_at,
        warn_at=p.warn_at,
        warned_at=p.warned_at,
        held=p.hold is not None,
        hold_id=p.hold.id if p.hold else None,
        held_by=p.hold.held_by if p.hold else None,
    )


class ScheduleOut(BaseModel):
    id: int
    area: str
    project: str | None
    scanner: str | None
    age_hours: int | None
    weekdays: dict[str, str] | None
    remove_at: str | None
    warn_hours: int
    enabled: bool
    rule: str
    changed_by: str
    changed_at: dt.datetime


def _schedule(view: ScheduleView) -> ScheduleOut:
    return ScheduleOut(**asdict(view))


class HoldOut(BaseModel):
    id: int
    area: str
    key: str
    reason: str
    held_by: str
    held_at: dt.datetime


def _hold(view: HoldView) -> HoldOut:
    return HoldOut(**asdict(view))


class RunOut(BaseModel):
    warned: int
    deleted: int
    freed: int
    held: int
    skipped: int
    failed: int
    busy: bool


@router.get("/plan", response_model=list[PlannedOut])
def get_plan(ctx: CtxDep, actor: ActorDep) -> list[PlannedOut]:
    return [_planned(p) for p in plan.plan(ctx, actor)]


@router.post("/run", response_model=RunOut)
def run_now(ctx: CtxDep, actor: ActorDep) -> RunOut:
    return RunOut(**asdict(run.run(ctx, actor)))


@router.get("/schedules", response_model=list[ScheduleOut])
def list_schedules(ctx: CtxDep, actor: ActorDep) -> list[ScheduleOut]:
    return [_schedule(s) for s in schedules.list_schedules(ctx, actor)]


@router.post("/schedules", response_model=ScheduleOut, status_code=status.HTTP_201_CREATED)
def add_schedule(ctx: CtxDep, actor: ActorDep, body: ScheduleIn) -> ScheduleOut:
    return _schedule(schedules.save(ctx, actor, body))


@router.put("/schedules/{schedule_id}", response_model=ScheduleOut)
def change_schedule(
    ctx: CtxDep, actor: ActorDep, schedule_id: int, body: ScheduleIn
) -> ScheduleOut:
    return _schedule(schedules.save(ctx, actor, body, schedule_id=schedule_id))


@router.delete("/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_schedule(ctx: CtxDep, actor: ActorDep, schedule_id: int) -> Response:
    schedules.remove(ctx, actor, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/holds", response_model=list[HoldOut])
def list_holds(ctx: CtxDep, actor: ActorDep) -> list[HoldOut]:
    return [_hold(h) for h in holds.list_holds(ctx, actor)]


@router.post("/holds", response_model=HoldOut, status_code=status.HTTP_201_CREATED)
def hold_item(ctx: CtxDep, actor: ActorDep, body: HoldIn) -> HoldOut:
    return _hold(holds.hold(ctx, actor, body))


@router.delete("/holds/{hold_id}", status_code=status.HTTP_204_NO_CONTENT)
def release_hold(ctx: CtxDep, actor: ActorDep, hold_id: int) -> Response:
    holds.release(ctx, actor, hold_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
