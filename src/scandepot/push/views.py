"""Pushes as the interfaces show them: JSON records with progress and report (the API,
and through it the CLI), and instance rows. Nothing here decides what a push does."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scandepot.catalog.push import Push, PushInstance
from scandepot.push.deliver import FAR
from scandepot.push.follow import PushView


def url(push: Push) -> str:
    return f"/api/v1/projects/{push.project}/pushes/{push.id}"


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary(push: Push, *, status: str | None = None, message: str | None = None) -> dict[str, Any]:
    """One push as a list shows it (``status``, ``message``: a view's, which say how its
    job ended when it ended without the push)."""
    return {
        "id": push.id,
        "project": push.project,
        "destination": push.destination,
        "sessions": list(push.request.get("sessions", [])),
        "selection": push.request.get("selection"),
        "script": push.script,
        "status": status or push.status,
        "message": push.message if message is None else message,
        "instances_total": push.instances_total,
        "instances_done": push.instances_done,
        "requested_by": push.requested_by,
        "job": push.job_id,
        "created_at": _time(push.created_at),
        "started_at": _time(push.started_at),
        "finished_at": _time(push.finished_at),
        "url": url(push),
    }


def record(view: PushView) -> dict[str, Any]:
    """A push with its progress (instances by status) and its report."""
    report = {k: v for k, v in view.push.report.items() if k != FAR}
    return {
        **summary(view.push, status=view.status, message=view.message),
        "finished": view.finished,
        "progress": view.progress(),
        "report": report,
        "instances_url": f"{url(view.push)}/instances",
    }


def instance(row: PushInstance) -> dict[str, Any]:
    """One instance of a push: the UIDs it left with, how far it got, why not further."""
    return {
        "id": row.id,
        "session_id": row.session_id,
        "study_uid": row.study_uid or None,
        "series_uid": row.series_uid or None,
        "sop_uid": row.sop_uid or None,
        "status": row.status,
        "attempts": row.attempts,
        "reason": row.reason,
        "sent_at": _time(row.sent_at),
    }
