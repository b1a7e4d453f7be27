"""Who hears of an event: the addresses, each with the topic it hears it under.

- A session archived: the project's recipients for ``archived``, the uploader (on unless
  they turned it off), and users who turned ``archived`` on.
- The export-process series (received, built, archived, each job ended): off by default;
  users who turned ``process`` on, and recipients with it.
- Needs attention (a conflict, an error, an unassigned study, a failed job): the
  project's owners (on unless they turned it off), users who turned it on, recipients
  with it; an unassigned study goes to the site administrators.
- Stuck (a staged session, a silent receiver): the site administrators.
- A step in a dataset's life (:class:`DatasetChanged`): the dataset's owners.

A user is told only while the account is enabled, has an email address and may still
read the project (:func:`scandepot.access.permissions.level_on`, the one check). One
address hears of one event once, under the strongest of its topics (:data:`STRENGTH`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.permissions import Action, level_on
from scandepot.access.users import actor_for
from scandepot.catalog.access import ProjectRole, Role, User
from scandepot.catalog.archive import Project
from scandepot.catalog.datasets import Dataset, DatasetOwner
from scandepot.catalog.notify import Choice, Recipient, Topic
from scandepot.events import (
    DatasetChanged,
    JobFinished,
    ReceiverSilent,
    SessionArchived,
    SessionBuilt,
    SessionNeedsAttention,
    SessionReceived,
    SessionStuck,
)

# The strongest first: an address that qualifies twice hears of the event under the first.
STRENGTH = (Topic.ATTENTION, Topic.STUCK, Topic.DATASET, Topic.ARCHIVED, Topic.PROCESS)
PROCESS_EVENTS = (SessionReceived, SessionBuilt, SessionArchived, JobFinished)
ATTENTION_STATUSES = frozenset({"CONFLICT", "ERROR"})


@dataclass(frozen=True, slots=True)
class Listener:
    address: str
    topic: Topic
    user: str | None  # the account's login; None: a project's recipient address


def same_audience(event: object) -> tuple[object, ...]:
    """What :func:`audience` depends on: events alike in these have the same audience
    (a dispatcher asks once for the 40 sessions of one import)."""
    return (
        type(event).__name__,
        getattr(event, "project", None),
        getattr(event, "status", None),
        getattr(event, "uploader", None),
        getattr(event, "dataset", None),
    )


def audience(db: DBSession, event: object) -> list[Listener]:
    """Everyone who hears of ``event``, once each, in a stable order."""
    found: list[Listener] = []
    if isinstance(event, SessionArchived):
        found += _archived(db, event)
    if isinstance(event, PROCESS_EVENTS):
        project = _project(db, event.project)
        if project is not None:
            found += _topic_listeners(db, project, Topic.PROCESS, default_on=())
    if _needs_attention(event):
        found += _attention(db, getattr(event, "project", None))
    if isinstance(event, SessionStuck | ReceiverSilent):
        found += _admins(db, Topic.STUCK)
    if isinstance(event, DatasetChanged):
        found += _dataset_owners(db, event.dataset)
    return _strongest(found)


def _dataset_owners(db: DBSession, stable_id: str) -> list[Listener]:
    """The dataset's owners whose accounts are enabled and have an address."""
    owners = db.scalars(
        select(User)
        .join(DatasetOwner, DatasetOwner.user_id == User.id)
        .join(Dataset, Dataset.id == DatasetOwner.dataset_id)
        .where(Dataset.stable_id == stable_id, User.enabled.is_(True))
        .order_by(User.id)
    )
    return [Listener(u.email, Topic.DATASET, u.login) for u in owners if u.email]


def _needs_attention(event: object) -> bool:
    if isinstance(event, SessionNeedsAttention):
        return event.project is None or event.status in ATTENTION_STATUSES
    return isinstance(event, JobFinished) and event.status == "failed"


def _archived(db: DBSession, event: SessionArchived) -> list[Listener]:
    project = _project(db, event.project)
    if project is None:
        return []
    uploader: tuple[int, ...] = ()
    if event.uploader:
        uploader = tuple(db.scalars(select(User.id).where(User.login == event.uploader)))
    return _topic_listeners(db, project, Topic.ARCHIVED, default_on=uploader)


def _attention(db: DBSession, label: str | None) -> list[Listener]:
    project = _project(db, label)
    if project is None:  # an unassigned study (or a project gone): the site's administrators
        return _admins(db, Topic.ATTENTION)
    owners = tuple(
        db.scalars(
            select(ProjectRole.user_id).where(
                ProjectRole.project_id == project.id, ProjectRole.role == int(Role.OWNER)
            )
        )
    )
    return _topic_listeners(db, project, Topic.ATTENTION, default_on=owners)


def _topic_listeners(
    db: DBSession, project: Project, topic: Topic, *, default_on: Iterable[int]
) -> list[Listener]:
    """The project's recipients with ``topic``, then the users who hear of it: those whose
    own choice says on, and those of ``default_on`` who made no choice."""
    found = [
        Listener(r.address, topic, None)
        for r in db.scalars(
            select(Recipient).where(Recipient.project_id == project.id).order_by(Recipient.id)
        )
        if topic.value in (r.topics or [])
    ]
    choices = _choices(db, project.id, topic)
    wanted = {uid for uid, on in choices.items() if on}
    wanted |= {uid for uid in default_on if uid not in choices}
    if not wanted:
        return found
    people = db.scalars(select(User).where(User.id.in_(wanted)).order_by(User.id))
    found += [Listener(u.email, topic, u.login) for u in people if _may_hear(db, u, project)]
    return found


def _choices(db: DBSession, project_id: int, topic: Topic) -> dict[int, bool]:
    """Each user's own choice for ``topic`` in the project: a project's own row wins over
    the row for all projects."""
    rows = db.execute(
        select(Choice.user_id, Choice.project_id, Choice.enabled).where(
            Choice.topic == topic.value,
            or_(Choice.project_id == project_id, Choice.project_id.is_(None)),
        )
    ).all()
    chosen: dict[int, bool] = {}
    for user_id, _pid, enabled in sorted(rows, key=lambda r: r[1] is not None):
        chosen[user_id] = bool(enabled)  # the project's own row comes last and wins
    return chosen


def _may_hear(db: DBSession, user: User, project: Project) -> bool:
    if not (user.enabled and user.email):
        return False
    return level_on(db, actor_for(user), project) >= Action.READ.level


def _admins(db: DBSession, topic: Topic) -> list[Listener]:
    """The site administrators, but those who turned ``topic`` off for all projects (their
    Notifications page offers the site-wide choice of it)."""
    off = select(Choice.user_id).where(
        Choice.topic == topic.value, Choice.project_id.is_(None), Choice.enabled.is_(False)
    )
    admins = db.scalars(
        select(User)
        .where(User.is_site_admin.is_(True), User.enabled.is_(True), User.id.not_in(off))
        .order_by(User.id)
    )
    return [Listener(u.email, topic, u.login) for u in admins if u.email]


def _project(db: DBSession, label: str | None) -> Project | None:
    if not label:
        return None
    return db.scalar(select(Project).where(Project.label == label))


def _strongest(found: list[Listener]) -> list[Listener]:
    """One listener per address (compared without case), under its strongest topic, in
    the order they were first found."""
    best: dict[str, Listener] = {}
    for one in found:
        key = one.address.strip().lower()
        held = best.get(key)
        if held is None:
            best[key] = one
        elif STRENGTH.index(one.topic) < STRENGTH.index(held.topic):
            best[key] = Listener(held.address, one.topic, held.user or one.user)
    return list(best.values())
