"""How a staged session is named from outside, as XNAT names its prearchive entries:
``/prearchive/projects/{project}/{timestamp}/{folder}``.

- ``project``: the project's ID, or ``Unassigned`` for a session no rule routed;
- ``timestamp``: when the session's first instance arrived (its ``created_at``), in UTC,
  to the millisecond, written as XNAT writes prearchive timestamps (``YYYYMMDD_HHMMSSmmm``,
  which xnatpy reads with ``%Y%m%d_%H%M%S%f``);
- ``folder``: the staged session's number, which also names its spool folder and is never
  given twice.

None of it changes while the session is staged (a relabel changes ``name``, not the
folder, as in XNAT), except ``project`` on a move, whose answer gives the new name, as
XNAT's does. A name whose parts do not all match one staged session names nothing: the
answer is the one a number never given gets, so a name says nothing of what exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.catalog.prearchive import UNASSIGNED, StagedSession
from scandepot.context import Context
from scandepot.errors import Invalid, NotFound, Unauthorized
from scandepot.prearchive import operations
from scandepot.prearchive.operations import StagedView

UNASSIGNED_NAME = "Unassigned"  # XNAT's name of the prearchive's unassigned folder
TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"
_PATH = re.compile(
    r"(?:/(?:data|REST))?/prearchive/projects/(?P<project>[^/]+)/(?P<timestamp>[^/]+)"
    r"/(?P<folder>[^/]+)/?"
)


@dataclass(frozen=True, slots=True)
class Name:
    project: str
    timestamp: str
    folder: str

    @property
    def path(self) -> str:
        return f"/prearchive/projects/{self.project}/{self.timestamp}/{self.folder}"


def timestamp(staged: StagedSession) -> str:
    received = staged.created_at
    return received.strftime(TIMESTAMP_FORMAT) + f"{received.microsecond // 1000:03d}"


def project_name(project_key: str) -> str:
    return project_key if project_key != UNASSIGNED else UNASSIGNED_NAME


def of(staged: StagedSession) -> Name:
    return Name(project_name(staged.project_key), timestamp(staged), str(staged.id))


def parse(uri: str, *, field: str = "src") -> Name:
    """A prearchive URI as XNAT clients send it (with or without ``/data``)."""
    found = _PATH.fullmatch(uri.strip())
    if found is None:
        raise Invalid(
            f"'{uri[:200]}' is not a prearchive session: give "
            "/prearchive/projects/{project}/{timestamp}/{session}.",
            field=field,
        )
    return Name(found["project"], found["timestamp"], found["folder"])


def load(db: DBSession, actor: Actor, name: Name, action: Action) -> StagedSession:
    """The staged session ``name`` names, if ``actor`` may do ``action`` on it; fails
    closed, in the same words for a name of nothing and one of a session out of sight."""
    nothing = (
        Unauthorized()
        if actor.is_anonymous
        else NotFound(f"No prearchive session at {name.path}.", field="src")
    )
    if not name.folder.isdigit() or len(name.folder) > 18:
        raise nothing
    try:
        staged = operations.load(db, actor, int(name.folder), action)
    except NotFound:
        raise nothing from None
    there = of(staged)
    if there.timestamp != name.timestamp or there.project.lower() != name.project.lower():
        raise nothing
    return staged


def find(ctx: Context, actor: Actor, name: Name, action: Action = Action.PREARCHIVE) -> int:
    """The number of the staged session ``name`` names, checked as :func:`load` does."""
    with ctx.db.read() as db:
        return load(db, actor, name, action).id


def get(ctx: Context, actor: Actor, name: Name) -> StagedView:
    return operations.get(ctx, actor, find(ctx, actor, name))
