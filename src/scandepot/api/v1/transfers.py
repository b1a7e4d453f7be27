"""Copies and moves between projects: check (a dry run), start, follow, report, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from scandepot.api.deps import ActorDep, CtxDep, PageDep
from scandepot.transfers import service, views
from scandepot.transfers.plan import Plan
from scandepot.transfers.requests import TransferRequest

router = APIRouter(prefix="/transfers", tags=["transfers"])


class TransferIn(TransferRequest):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(
        default=False, description="Only check: answer with the plan and write nothing."
    )


def _request(body: TransferIn) -> TransferRequest:
    return TransferRequest.model_validate(body.model_dump(exclude={"dry_run"}))


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "The plan of a dry run."},
        409: {"description": "The check found problems: the error, and the whole plan."},
    },
)
def start(ctx: CtxDep, actor: ActorDep, body: TransferIn, response: Response) -> Any:
    """Check a copy or move and queue it (202, with its address in Location); with
    ``dry_run``, the check alone (200, the plan); refused by the check, 409 with every
    problem and the plan."""
    if body.dry_run:
        return JSONResponse(service.check(ctx, actor, _request(body)).to_json())
    found = views.submit(ctx, actor, _request(body))
    if isinstance(found, Plan):
        return JSONResponse(views.refusal(found), status_code=status.HTTP_409_CONFLICT)
    out = views.record(found)
    response.headers["location"] = out["url"]
    return out


@router.get("")
def list_transfers(
    ctx: CtxDep,
    actor: ActorDep,
    page: PageDep,
    project: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """The transfers you asked for, or from or into projects you may read; newest first."""
    found = service.list_transfers(ctx, actor, page, project=project)
    return {
        "items": [views.summary(t) for t in found.items],
        "total": found.total,
        "limit": found.limit,
        "offset": found.offset,
        "next": found.next,
    }


@router.get("/{transfer_id}")
def get_transfer(ctx: CtxDep, actor: ActorDep, transfer_id: int) -> dict[str, Any]:
    """Status, progress (files_done of files_total), message and each session."""
    return views.record(service.get(ctx, actor, transfer_id))


@router.get("/{transfer_id}/report")
def get_report(ctx: CtxDep, actor: ActorDep, transfer_id: int) -> dict[str, Any]:
    """The whole report: the check, and per session what was compared and found."""
    return views.report(service.get(ctx, actor, transfer_id))


@router.post("/{transfer_id}/cancel")
def cancel(ctx: CtxDep, actor: ActorDep, transfer_id: int) -> dict[str, Any]:
    """End a queued transfer now, or a running one at its next step."""
    return views.record(service.cancel(ctx, actor, transfer_id))
