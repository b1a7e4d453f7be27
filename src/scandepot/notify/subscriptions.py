"""A project's notification recipients: the addresses its messages go to, each with the
topics it gets (the export-process series among them, off unless an owner turns it on).

Only those who may configure the project list or change them: the addresses are personal
data. The project is loaded as every service loads it, with the one permission check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.archive import Project
from scandepot.catalog.notify import ADDRESS_LENGTH, RECIPIENT_DEFAULT_TOPICS, Recipient, Topic
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid, NotFound
from scandepot.notify.addresses import checked

# What a project's recipient may get; stuck cases go to the site administrators alone.
RECIPIENT_TOPICS = (Topic.ARCHIVED, Topic.PROCESS, Topic.ATTENTION)


class RecipientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=ADDRESS_LENGTH + 16)  # checked() says what is wrong
    topics: list[str] | None = Field(default=None, max_length=8)  # None: archived only


class RecipientUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topics: list[str] = Field(max_length=8)


@dataclass(frozen=True, slots=True)
class RecipientView:
    id: int
    project: str
    address: str
    topics: list[str]
    created_at: dt.datetime


def checked_topics(
    values: Iterable[str], *, allowed: Iterable[Topic] = RECIPIENT_TOPICS, field: str = "topics"
) -> list[str]:
    """``values`` as Topic values, each once, in the order Topic lists them; Invalid naming
    ``field`` for an unknown one or none at all."""
    choices = [t.value for t in allowed]
    given = [str(v).strip().lower() for v in values]
    unknown = [v for v in given if v not in choices]
    if unknown:
        raise Invalid(
            f"Unknown topic '{unknown[0]}'; choose from: {', '.join(choices)}.", field=field
        )
    if not given:
        raise Invalid(f"Choose at least one topic from: {', '.join(choices)}.", field=field)
    return [t for t in choices if t in given]


def _view(row: Recipient, project: str) -> RecipientView:
    return RecipientView(row.id, project, row.address, list(row.topics), row.created_at)


def _load(db: DBSession, actor: Actor, project: str) -> Project:
    return projects.load(db, actor, project, Action.CONFIGURE)


def _recipient(db: DBSession, project: Project, recipient_id: int) -> Recipient:
    row = db.get(Recipient, recipient_id)
    if row is None or row.project_id != project.id:
        raise NotFound(
            f"Recipient {recipient_id} not found in project '{project.label}'.", field="recipient"
        )
    return row


def _same_address(db: DBSession, project: Project, address: str) -> int | None:
    """The recipient of ``project`` with ``address``, in any case: mail servers take a
    local part in any case, so ``PI@example.org`` is ``pi@example.org`` there."""
    return db.scalar(
        select(Recipient.id).where(
            Recipient.project_id == project.id,
            func.lower(Recipient.address) == address.lower(),
        )
    )


def list_recipients(ctx: Context, actor: Actor, project: str) -> list[RecipientView]:
    with ctx.db.read() as db:
        found = _load(db, actor, project)
        rows = db.scalars(
            select(Recipient).where(Recipient.project_id == found.id).order_by(Recipient.address)
        )
        return [_view(row, found.label) for row in rows]


def add_recipient(ctx: Context, actor: Actor, project: str, data: RecipientCreate) -> RecipientView:
    """A new address for the project; the same address twice is a Conflict."""
    address = checked(data.address, field="address")
    topics = checked_topics(data.topics if data.topics is not None else RECIPIENT_DEFAULT_TOPICS)
    with ctx.db.write() as db:
        found = _load(db, actor, project)
        if _same_address(db, found, address) is not None:
            raise Conflict(
                f"'{address}' is a recipient of project '{found.label}' already.",
                field="address",
            )
        row = Recipient(project_id=found.id, address=address, topics=topics)
        db.add(row)
        db.flush()
        audit.record(
            db,
            actor,
            AuditAction.NOTIFY_RECIPIENT_ADDED,
            project=found.label,
            target=f"recipient:{row.id}",
            address=address,
            topics=topics,
        )
        return _view(row, found.label)


def change_recipient(
    ctx: Context, actor: Actor, project: str, recipient_id: int, data: RecipientUpdate
) -> RecipientView:
    topics = checked_topics(data.topics)
    with ctx.db.write() as db:
        found = _load(db, actor, project)
        row = _recipient(db, found, recipient_id)
        if list(row.topics) != topics:
            row.topics = topics
            audit.record(
                db,
                actor,
                AuditAction.NOTIFY_RECIPIENT_CHANGED,
                project=found.label,
                target=f"recipient:{row.id}",
                address=row.address,
                topics=topics,
            )
        db.flush()
        return _view(row, found.label)


def remove_recipient(ctx: Context, actor: Actor, project: str, recipient_id: int) -> None:
    with ctx.db.write() as db:
        found = _load(db, actor, project)
        row = _recipient(db, found, recipient_id)
        db.delete(row)
        audit.record(
            db,
            actor,
            AuditAction.NOTIFY_RECIPIENT_REMOVED,
            project=found.label,
            target=f"recipient:{recipient_id}",
            address=row.address,
        )


def recipient_by_address(ctx: Context, actor: Actor, project: str, address: str) -> int:
    """The ID of the project's recipient ``address`` (as the command line names them)."""
    normal = checked(address, field="address")
    with ctx.db.read() as db:
        found = _load(db, actor, project)
        row_id = _same_address(db, found, normal)
    if row_id is None:
        raise NotFound(f"'{normal}' is not a recipient of project '{project}'.", field="address")
    return row_id
