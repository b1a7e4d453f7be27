"""Transfers as the interfaces show them: JSON records and reports (the API, and through
it the CLI), a start that answers with the whole plan when the check refuses it, and the
choices of the web form.

Nothing here decides what a transfer does: that is service.py and the job's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, Level, load_project, permission_clause
from scandepot.catalog.archive import Project
from scandepot.catalog.transfers import Transfer, TransferItem
from scandepot.context import Context
from scandepot.errors import Conflict
from scandepot.transfers import service
from scandepot.transfers.plan import Plan
from scandepot.transfers.requests import TransferRequest
from scandepot.transfers.service import TransferView

URL = "/api/v1/transfers"


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary(
    transfer: Transfer, *, status: str | None = None, message: str | None = None
) -> dict[str, Any]:
    """One transfer's record, as a list shows it (``status`` and ``message``: a view's,
    which say how its job ended when it ended without the transfer)."""
    return {
        "id": transfer.id,
        "kind": transfer.kind,
        "source": transfer.source,
        "destination": transfer.destination,
        "status": status or transfer.status,
        "message": transfer.message if message is None else message,
        "files_done": transfer.files_done,
        "files_total": transfer.files_total,
        "requested_by": transfer.requested_by,
        "job": transfer.job_id,
        "created_at": _time(transfer.created_at),
        "started_at": _time(transfer.started_at),
        "finished_at": _time(transfer.finished_at),
        "url": f"{URL}/{transfer.id}",
        "report_url": f"{URL}/{transfer.id}/report",
    }


def item_json(item: TransferItem) -> dict[str, Any]:
    """One session of a transfer: where it goes, how far it got, what was compared."""
    found = item.verified or {}
    return {
        "position": item.position,
        "source": f"{item.source_subject}/{item.source_session}",
        "destination": f"{item.dest_subject}/{item.dest_session}",
        "source_subject": item.source_subject,
        "source_session": item.source_session,
        "dest_subject": item.dest_subject,
        "dest_session": item.dest_session,
        "status": item.status,
        "files": item.files,
        "copied": list(found.get("copied", [])),
        "left_out": list(found.get("left_out", [])),
        "compared": found.get("compared"),
        "kept_in_source": found.get("kept_in_source"),
    }


def record(view: TransferView) -> dict[str, Any]:
    """A transfer with its progress and its sessions."""
    return {
        **summary(view.transfer, status=view.status, message=view.message),
        "finished": view.finished,
        "verified": view.verified,
        "request": view.transfer.request,
        "items": [item_json(i) for i in view.items],
    }


def report(view: TransferView) -> dict[str, Any]:
    """The whole report: what was asked, the check made before anything was written, and
    per session what was copied, compared and found, and what stayed in the source."""
    saved = dict(view.transfer.report or {})
    return {
        **summary(view.transfer, status=view.status, message=view.message),
        "finished": view.finished,
        "verified": view.verified,
        "request": view.transfer.request,
        "check": saved.get("check"),
        "items": [item_json(i) for i in view.items],
    }


def submit(ctx: Context, actor: Actor, request: TransferRequest) -> TransferView | Plan:
    """Start ``request``; when its check refuses it, the plan with every problem instead
    (nothing is written either way but the transfer itself)."""
    try:
        return service.start(ctx, actor, request)
    except Conflict:
        found = service.check(ctx, actor, request)
        if found.ok:  # refused for a reason the plan no longer has: say the first
            raise
        return found


def refusal(found: Plan) -> dict[str, Any]:
    """The answer to a start its check refused: the API's error, and the whole plan."""
    error = service.refused(found)
    return {
        "error": {
            "code": error.code,
            "message": error.message,
            "field": error.field,
            "details": error.details,
        },
        "plan": found.to_json(),
    }


@dataclass(frozen=True, slots=True)
class Choices:
    """What the web form offers for transfers from ``source``."""

    source: str
    destinations: list[str]  # projects the actor may add sessions to
    managed: list[str]  # of those, the ones it owns (may choose where sessions land)


def choices(ctx: Context, actor: Actor, source: str) -> Choices:
    with ctx.db.read() as db:
        project = load_project(db, actor, source, Action.READ)
        writable = list(
            db.scalars(
                select(Project.label)
                .where(permission_clause(actor, Level.WRITE))
                .order_by(Project.label)
            )
        )
        managed = list(
            db.scalars(select(Project.label).where(permission_clause(actor, Level.MANAGE)))
        )
    return Choices(project.label, [p for p in writable if p != project.label], managed)
