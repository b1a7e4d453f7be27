"""Access to a published version: a signed-in user asks, with a purpose; the dataset's
owners approve or refuse, and may revoke an approval later (docs/dataset-access.md).

An approval gives exactly the version asked for, while it stays published
(:func:`scandepot.access.datasets.approved`): a withdrawn version, or a revoked approval,
lets nobody but the owners read its files. Every step is recorded
(:func:`scandepot.datasets.lifecycle.record`: the dataset's history, the audit log, and
the owners or the requester told). A request keeps its row whatever becomes of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.datasets import (
    DatasetAction,
    is_owner,
    load_version,
    may,
    require_dataset,
)
from scandepot.catalog.access import User
from scandepot.catalog.datasets import (
    AccessState,
    Dataset,
    DatasetAccess,
    DatasetVersion,
    VersionState,
)
from scandepot.catalog.paging import Page, PageRequest, paginate
from scandepot.context import Context
from scandepot.datasets import lifecycle
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Invalid, NotFound, Unauthorized

PURPOSE_MIN = 10  # characters: a purpose says what the data is for
PURPOSE_MAX = 4000
COMMENT_MAX = 4000
SORTS = {"id": DatasetAccess.id, "requested": DatasetAccess.requested_at}


@dataclass(frozen=True, slots=True)
class AccessView:
    id: int
    dataset: str  # its site-wide ID
    name: str
    version: int
    user: str  # the requester's login
    purpose: str
    state: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a signed-in user stands with a version: for its public page."""

    owner: bool  # they own the dataset: no request, the files are theirs
    request: AccessView | None  # their newest request of this version
    download: bool  # they may read its files now


def _view(row: DatasetAccess, dataset: Dataset, number: int, login: str) -> AccessView:
    return AccessView(
        row.id,
        dataset.stable_id,
        dataset.name,
        number,
        login,
        row.purpose,
        row.state,
        row.requested_at,
        row.decided_by,
        row.decided_at,
        row.decision_comment,
    )


def _views(db: DBSession, rows: list[DatasetAccess]) -> list[AccessView]:
    """Views of requests, their datasets, versions and requesters read in one query each."""
    datasets = {
        d.id: d
        for d in db.scalars(select(Dataset).where(Dataset.id.in_({r.dataset_id for r in rows})))
    }
    version_ids = {r.version_id for r in rows}
    numbers: dict[int, int] = {
        id_: number
        for id_, number in db.execute(
            select(DatasetVersion.id, DatasetVersion.number).where(
                DatasetVersion.id.in_(version_ids)
            )
        )
    }
    user_ids = {r.user_id for r in rows}
    logins: dict[int, str] = {
        id_: login
        for id_, login in db.execute(select(User.id, User.login).where(User.id.in_(user_ids)))
    }
    return [
        _view(r, datasets[r.dataset_id], numbers[r.version_id], logins.get(r.user_id, "?"))
        for r in rows
    ]


def _text(value: str, *, field: str, least: int, most: int, what: str) -> str:
    text = value.strip()
    if len(text) < least:
        if least <= 1:
            raise Invalid(f"The {what} is required.", field=field)
        raise Invalid(f"The {what} is required: at least {least} characters.", field=field)
    if len(text) > most:
        raise Invalid(f"The {what} is at most {most} characters; {len(text)} given.", field=field)
    return text


def request(ctx: Context, actor: Actor, ref: str, number: int, purpose: str) -> AccessView:
    """Ask for access to a published version, saying what for."""
    if actor.user_id is None:
        raise Unauthorized()
    text = _text(purpose, field="purpose", least=PURPOSE_MIN, most=PURPOSE_MAX, what="purpose")
    with ctx.db.write() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
        if version.state != VersionState.PUBLISHED:
            raise Conflict(
                f"Version {number} of '{dataset.stable_id}' is {version.state}: access is asked "
                "for a published version.",
                field="version",
            )
        if is_owner(db, actor, dataset):
            raise Conflict("You own this dataset: its files are yours to read.", field="version")
        held = db.scalar(
            select(DatasetAccess.state).where(
                DatasetAccess.version_id == version.id,
                DatasetAccess.user_id == actor.user_id,
                DatasetAccess.state.in_((AccessState.PENDING.value, AccessState.APPROVED.value)),
            )
        )
        if held is not None:
            raise Conflict(
                f"You asked for access to this version already; your request is {held}.",
                field="version",
            )
        row = DatasetAccess(
            dataset_id=dataset.id, version_id=version.id, user_id=actor.user_id, purpose=text
        )
        db.add(row)
        db.flush()
        lifecycle.record(
            db,
            actor,
            dataset,
            version,
            "access_requested",
            comment=text,
            details={"request": row.id, "purpose": text},
        )
        return _view(row, dataset, version.number, actor.login)


def standing(ctx: Context, actor: Actor, ref: str, number: int) -> Standing:
    """Whether ``actor`` owns the dataset, their newest request of the version, and whether
    they may download it now (anonymous visitors: nothing)."""
    with ctx.db.read() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
        if actor.user_id is None:
            return Standing(owner=False, request=None, download=False)
        row = db.scalar(
            select(DatasetAccess)
            .where(DatasetAccess.version_id == version.id, DatasetAccess.user_id == actor.user_id)
            .order_by(DatasetAccess.id.desc())
            .limit(1)
        )
        return Standing(
            owner=is_owner(db, actor, dataset),
            request=None if row is None else _view(row, dataset, version.number, actor.login),
            download=may(db, actor, DatasetAction.DOWNLOAD, dataset, version),
        )


def _owned_request(
    db: DBSession, actor: Actor, ref: str, number: int, request_id: int
) -> tuple[Dataset, DatasetVersion, DatasetAccess]:
    """A request of the version, for its owners alone (anyone else refused, 403, or 404
    where they may not see the version)."""
    dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
    require_dataset(db, actor, DatasetAction.EDIT, dataset, version)
    row = db.get(DatasetAccess, request_id)
    if row is None or row.version_id != version.id:
        raise NotFound(
            f"Version {number} of '{dataset.stable_id}' has no access request {request_id}.",
            field="request",
        )
    return dataset, version, row


def _login(db: DBSession, user_id: int) -> str:
    return db.scalar(select(User.login).where(User.id == user_id)) or "?"


def decide(
    ctx: Context,
    actor: Actor,
    ref: str,
    number: int,
    request_id: int,
    *,
    approve: bool,
    comment: str = "",
) -> AccessView:
    """An owner approves or refuses a pending request."""
    note = _text(comment, field="comment", least=0, most=COMMENT_MAX, what="comment")
    with ctx.db.write() as db:
        dataset, version, row = _owned_request(db, actor, ref, number, request_id)
        if row.state != AccessState.PENDING:
            raise Conflict(
                f"Access request {request_id} is {row.state}; only a pending one is decided.",
                field="request",
            )
        if approve and version.state != VersionState.PUBLISHED:
            raise Conflict(
                f"Version {number} is {version.state}: access is given to a published version.",
                field="version",
            )
        row.state = (AccessState.APPROVED if approve else AccessState.REFUSED).value
        row.decided_by, row.decided_at, row.decision_comment = actor.login, utcnow(), note
        login = _login(db, row.user_id)
        lifecycle.record(
            db,
            actor,
            dataset,
            version,
            "access_decided",
            comment=note,
            details={"request": row.id, "login": login, "decision": row.state},
        )
        return _view(row, dataset, version.number, login)


def revoke(
    ctx: Context, actor: Actor, ref: str, number: int, request_id: int, *, comment: str = ""
) -> AccessView:
    """An owner takes an approval back: the user reads the files no more."""
    note = _text(comment, field="comment", least=0, most=COMMENT_MAX, what="comment")
    with ctx.db.write() as db:
        dataset, version, row = _owned_request(db, actor, ref, number, request_id)
        if row.state != AccessState.APPROVED:
            raise Conflict(
                f"Access request {request_id} is {row.state}; only an approval is revoked.",
                field="request",
            )
        row.state = AccessState.REVOKED.value
        row.decided_by, row.decided_at, row.decision_comment = actor.login, utcnow(), note
        login = _login(db, row.user_id)
        lifecycle.record(
            db,
            actor,
            dataset,
            version,
            "access_revoked",
            comment=note,
            details={"request": row.id, "login": login},
        )
        return _view(row, dataset, version.number, login)


def of_version(
    ctx: Context, actor: Actor, ref: str, number: int, page: PageRequest
) -> Page[AccessView]:
    """The version's requests: every one for its owners, one's own for anyone else."""
    if actor.user_id is None and not actor.is_system:
        raise Unauthorized()
    with ctx.db.read() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
        stmt = select(DatasetAccess).where(DatasetAccess.version_id == version.id)
        if not may(db, actor, DatasetAction.EDIT, dataset, version):
            stmt = stmt.where(DatasetAccess.user_id == actor.user_id)
        return _page(db, stmt, page)


def mine(ctx: Context, actor: Actor, page: PageRequest) -> Page[AccessView]:
    """The signed-in user's own requests, of every dataset."""
    if actor.user_id is None:
        raise Unauthorized()
    with ctx.db.read() as db:
        stmt = select(DatasetAccess).where(DatasetAccess.user_id == actor.user_id)
        return _page(db, stmt, page)


def _page(db: DBSession, stmt: Select[Any], page: PageRequest) -> Page[AccessView]:
    found = paginate(
        db, stmt, page, sort_fields=SORTS, default_sort="-id", tiebreak=DatasetAccess.id.desc()
    )
    return found.with_items(_views(db, list(found.items)))


def get(ctx: Context, actor: Actor, ref: str, number: int, request_id: int) -> AccessView:
    """One request, for the version's owners and the requester."""
    if actor.user_id is None and not actor.is_system:
        raise Unauthorized()
    with ctx.db.read() as db:
        dataset, version = load_version(db, actor, ref, number, DatasetAction.VIEW)
        row = db.get(DatasetAccess, request_id)
        if (
            row is None
            or row.version_id != version.id
            or (
                row.user_id != actor.user_id
                and not may(db, actor, DatasetAction.EDIT, dataset, version)
            )
        ):
            raise NotFound(
                f"Version {number} of '{dataset.stable_id}' has no access request {request_id}.",
                field="request",
            )
        return _views(db, [row])[0]
