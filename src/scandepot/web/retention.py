"""The retention page of the site administrators: what will be deleted next and when,
the schedules, the holds; a run now."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from scandepot.errors import Invalid, ScandepotError
from scandepot.retention import holds, plan, run, schedules
from scandepot.retention.areas import TITLES
from scandepot.retention.holds import HoldIn
from scandepot.retention.schedules import ScheduleIn
from scandepot.web.deps import CtxDep, Posted, PostedDep, VisitorDep
from scandepot.web.render import back_to_form, page, redirect

router = APIRouter(prefix="/admin/retention")
BACK = "/admin/retention"


@router.get("")
def retention_page(request: Request, ctx: CtxDep, visitor: VisitorDep) -> Response:
    actor = visitor.actor
    entries = plan.plan(ctx, actor)
    return page(
        request,
        visitor,
        "retention.html",
        title="Retention",
        entries=entries,
        schedules=schedules.list_schedules(ctx, actor),
        holds=holds.list_holds(ctx, actor),
        areas=TITLES,
        timezone=ctx.settings.site_timezone,
    )


def _schedule(form: Posted) -> ScheduleIn:
    amount = form.text("age")
    try:
        age = int(amount) if amount else None
    except ValueError:
        raise Invalid(f"The age '{amount}' is not a whole number.", field="age_hours") from None
    days = form.text("unit") == "days"
    table = form.text("weekdays")
    warn = form.text("warn_hours") or "0"
    if not warn.lstrip("-").isdigit():
        raise Invalid(f"warn_hours '{warn}' is not a whole number.", field="warn_hours")
    return ScheduleIn(
        area=form.text("area") or "",
        project=form.text("project"),
        scanner=form.text("scanner"),
        age_hours=None if days else age,
        age_days=age if days else None,
        weekdays=schedules.parse_table(table) if table else None,
        remove_at=form.text("remove_at") if table else None,
        warn_hours=int(warn),
    )


@router.post("/schedules")
def schedule_add(ctx: CtxDep, form: PostedDep) -> Response:
    try:
        made = schedules.save(ctx, form.actor, _schedule(form))
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(BACK, exc)
    return redirect(BACK, ok=f"Schedule {made.id} for {made.area}: {made.rule}.")


@router.post("/schedules/{schedule_id}/delete")
def schedule_remove(ctx: CtxDep, form: PostedDep, schedule_id: int) -> Response:
    schedules.remove(ctx, form.actor, schedule_id)
    return redirect(BACK, ok=f"Schedule {schedule_id} is removed.")


@router.post("/holds")
def hold_add(ctx: CtxDep, form: PostedDep) -> Response:
    try:
        data = HoldIn(
            area=form.text("area") or "",
            key=form.text("key") or "",
            reason=form.text("reason") or "",
        )
        made = holds.hold(ctx, form.actor, data)
    except (ScandepotError, ValidationError) as exc:
        return back_to_form(BACK, exc)
    return redirect(BACK, ok=f"{made.area}:{made.key} is held.")


@router.post("/holds/{hold_id}/release")
def hold_release(ctx: CtxDep, form: PostedDep, hold_id: int) -> Response:
    holds.release(ctx, form.actor, hold_id)
    return redirect(BACK, ok=f"Hold {hold_id} is released.")


@router.post("/run")
def run_now(ctx: CtxDep, form: PostedDep) -> Response:
    done = run.run(ctx, form.actor)
    if done.busy:
        return redirect(BACK, error="Another process is running retention now; try again soon.")
    return redirect(
        BACK,
        ok=f"Warned {done.warned}, deleted {done.deleted}, held {done.held}, "
        f"skipped {done.skipped}, failed {done.failed}.",
    )
