"""What a message says of each notice: the event's fields, with what the catalog knows
now (the session's current labels and scans, whether a staged session or a job is still
there) and the links to the pages that show them.

A view is a plain dict, the event's payload and the additions: a field an older event
lacks is simply missing, and the template renders the gap as empty (and logs it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import File, Resource, Scan
from scandepot.catalog.archive import Session as ArchivedSession
from scandepot.catalog.notify import Notice
from scandepot.catalog.pipelines import Job
from scandepot.catalog.prearchive import StagedSession
from scandepot.notify.links import Links

View = dict[str, Any]
TIME = "%Y-%m-%d %H:%M UTC"
OPTIONAL = ("link", "gone", "staged_link", "staged_now", "job_link", "advice", "since")

ADVICE = {
    "CONFLICT": "Open the staged session and resolve the conflict: relabel it, archive it "
    "with overwrite, or delete it.",
    "ERROR": "Open the staged session to see the error; rebuild it once the cause is "
    "fixed, or delete it.",
    "unassigned": "No routing rule found a project for this study: move it to a project "
    "from its page in the prearchive.",
    "failed": "Open the job's page for its log; launch it again once the cause is fixed.",
}

# How a dataset's step reads in a message: "version 2 was {released}".
STEPS = {
    "created": "created",
    "released": "released",
    "validation_finished": "checked by the automatic validation",
    "validated": "validated by a curator",
    "sent_back": "sent back by a curator",
    "published": "published",
    "withdrawn": "withdrawn",
    "version_created": "started as a new draft",
    "owners_changed": "given other owners",
    "access_requested": "asked for by a user",
    "access_decided": "the subject of an access decision",
    "access_revoked": "the subject of a revoked access",
}


def view(db: DBSession, links: Links, notice: Notice) -> View:
    """The notice as its message's template reads it."""
    data: View = dict(notice.payload)
    data["kind"] = notice.kind
    for optional in OPTIONAL:  # what only some kinds have: absent is not a gap
        data.setdefault(optional, None)
    data["at"] = notice.created_at.astimezone(dt.UTC).strftime(TIME)
    if notice.kind == "SessionArchived":
        _archived(db, links, data)
    elif notice.kind == "JobFinished":
        _job(db, links, data)
    elif isinstance(data.get("staged_id"), int):
        _staged(db, links, data)
    if notice.kind == "SessionStuck":
        data["since"] = _when(data.get("last_received_at"))
    if notice.kind == "DatasetChanged":
        data["link"] = links.dataset(str(data.get("dataset")), data.get("version"))
        data["step"] = STEPS.get(str(data.get("action")), str(data.get("action", "")))
    if notice.kind == "SessionNeedsAttention":
        problem = "unassigned" if data.get("project") is None else data.get("status")
        data["advice"] = ADVICE.get(str(problem), "")
    return data


def _when(value: object) -> str:
    """An ISO 8601 time from an event, to the minute, as people read it."""
    try:
        return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC).strftime(TIME)
    except ValueError:
        return str(value or "")


def _archived(db: DBSession, links: Links, data: View) -> None:
    """The session as it is now: its labels (it may have been relabelled or moved since),
    its link and its scans with their file counts; ``gone`` when it was deleted."""
    found = None
    if isinstance(data.get("session_id"), str):
        found = db.scalar(
            select(ArchivedSession).where(ArchivedSession.stable_id == data["session_id"])
        )
    data["gone"] = found is None
    data["link"] = None
    data["scan_rows"] = []
    if found is None:
        return
    data["link"] = links.session(found.project.label, found.label)
    data["now_project"], data["now_session"] = found.project.label, found.label
    named = {str(s) for s in data.get("scans") or ()}
    counts = db.execute(
        select(Scan.label, Scan.type, Scan.SeriesDescription, func.count(File.id))
        .select_from(Scan)
        .outerjoin(Resource, Resource.scan_id == Scan.id)
        .outerjoin(File, File.resource_id == Resource.id)
        .where(Scan.session_id == found.id)
        .group_by(Scan.id, Scan.label, Scan.type, Scan.SeriesDescription, Scan.SeriesNumber)
        .order_by(Scan.SeriesNumber, Scan.label)
    ).all()
    data["scan_rows"] = [
        {"id": label, "type": kind or about or "", "files": files, "new": label in named}
        for label, kind, about, files in counts
    ]


def _staged(db: DBSession, links: Links, data: View) -> None:
    staged = db.get(StagedSession, data["staged_id"])
    data["staged_link"] = links.staged(staged.id) if staged is not None else None
    data["staged_now"] = staged.status if staged is not None else None


def _job(db: DBSession, links: Links, data: View) -> None:
    job_id, project = data.get("job_id"), data.get("project")
    found = isinstance(job_id, int) and db.get(Job, job_id) is not None
    data["job_link"] = links.job(str(project), int(job_id)) if found and project else None  # type: ignore[arg-type]
    data["advice"] = ADVICE["failed"] if data.get("status") == "failed" else ""


def subject(topic: str, views: list[View]) -> str:
    """A short, specific subject for one message (without the site's prefix)."""
    projects = sorted({str(v.get("project")) for v in views if v.get("project")})
    where = projects[0] if len(projects) == 1 else f"{len(projects)} projects"
    one = views[0] if len(views) == 1 else None
    if topic == "archived":
        if one is not None:
            return f"Session {one.get('session', '')} archived in {one.get('project', '')}"
        return f"{len(views)} sessions archived in {where}"
    if topic == "attention":
        return "Needs attention: " + (_case(one) if one else f"{len(views)} cases in {where}")
    if topic == "dataset":
        if one is not None:
            name, number = one.get("name", ""), one.get("version", "")
            return f"Dataset {name} version {number} {one.get('step', '')}"
        return f"{len(views)} dataset updates"
    if topic == "stuck":
        return "Stuck: " + (_case(one) if one else f"{len(views)} cases")
    if one is not None:
        return f"{_case(one)}"
    return f"{len(views)} updates in {where}" if projects else f"{len(views)} updates"


def _case(v: View) -> str:
    kind, project = v.get("kind"), v.get("project") or "no project"
    session = v.get("session") or v.get("StudyInstanceUID", "")
    if kind == "JobFinished":
        return f"{v.get('pipeline', '')} {v.get('status', '')} in {project} ({v.get('target', '')})"
    if kind == "ReceiverSilent":
        return f"the DICOM receiver at {v.get('address', '')} does not answer"
    if kind == "SessionStuck":
        return f"staged session {v.get('staged_id', '')} in {project} since {v.get('since', '')}"
    if kind == "SessionNeedsAttention":
        if v.get("project") is None:
            return f"a study with no project (staged session {v.get('staged_id', '')})"
        return f"{session} in {project} is {v.get('status', '')}"
    verb = {"SessionReceived": "received", "SessionBuilt": "built", "SessionArchived": "archived"}
    return f"Session {session} {verb.get(str(kind), '')} in {project}"
