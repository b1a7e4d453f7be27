"""Who may do what with a dataset: the one check for datasets, as :func:`require` is for
projects. Every dataset service loads its dataset and version through here.

- *view*: a published (or withdrawn, for its history) version's public page and
  aggregates: everyone; every version of the dataset, drafts too: its owners, curators
  and site administrators.
- *edit*: the owners (and site administrators): change a draft, release, publish,
  withdraw, start a new version, change owners, decide access requests.
- *curate*: curators (a site role, :attr:`User.is_curator`) and site administrators:
  validate a released version or send it back.
- *download*: a released version's files and manifest: the owners, site administrators,
  and users whose access request for that very version was approved while it stays
  published.

A dataset the actor may not view does not exist for them (404, or 401 when anonymous).
"""

from __future__ import annotations

import enum

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.catalog.access import User
from scandepot.catalog.datasets import (
    AccessState,
    Dataset,
    DatasetAccess,
    DatasetOwner,
    DatasetVersion,
    VersionState,
)
from scandepot.errors import Forbidden, NotFound, Unauthorized

PUBLIC_STATES = frozenset({VersionState.PUBLISHED, VersionState.WITHDRAWN})


class DatasetAction(enum.Enum):
    VIEW = "view"
    EDIT = "edit"
    CURATE = "curate"
    DOWNLOAD = "download"


def is_owner(db: DBSession, actor: Actor, dataset: Dataset) -> bool:
    if actor.user_id is None:
        return False
    row = db.get(DatasetOwner, (dataset.id, actor.user_id))
    return row is not None


def is_curator(db: DBSession, actor: Actor) -> bool:
    if actor.is_site_admin:
        return True
    if actor.user_id is None:
        return False
    return bool(db.scalar(select(User.is_curator).where(User.id == actor.user_id)))


def require_curator(db: DBSession, actor: Actor) -> None:
    """Fail closed: a site-wide step of curators (their queue): 401 anonymous, 403 others."""
    if is_curator(db, actor):
        return
    if actor.is_anonymous:
        raise Unauthorized()
    raise Forbidden(_refusal(DatasetAction.CURATE))


def approved(db: DBSession, actor: Actor, version: DatasetVersion) -> bool:
    """Whether ``actor`` holds approved access to ``version`` and it is still published."""
    if actor.user_id is None or version.state != VersionState.PUBLISHED:
        return False
    row = db.scalar(
        select(DatasetAccess.id).where(
            DatasetAccess.version_id == version.id,
            DatasetAccess.user_id == actor.user_id,
            DatasetAccess.state == AccessState.APPROVED,
        )
    )
    return row is not None


def may(
    db: DBSession,
    actor: Actor,
    action: DatasetAction,
    dataset: Dataset,
    version: DatasetVersion | None = None,
) -> bool:
    """Whether ``actor`` may do ``action`` on ``dataset`` (and ``version`` of it)."""
    if actor.is_site_admin:
        return True
    owner = is_owner(db, actor, dataset)
    if action is DatasetAction.EDIT:
        return owner
    if action is DatasetAction.CURATE:
        return is_curator(db, actor)
    if action is DatasetAction.DOWNLOAD:
        if version is None or version.state == VersionState.DRAFT:
            return False
        return owner or approved(db, actor, version)
    # VIEW
    if owner or is_curator(db, actor):
        return True
    if version is not None:
        return version.state in PUBLIC_STATES
    return has_public_version(db, dataset.id)


def has_public_version(db: DBSession, dataset_id: int) -> bool:
    found = db.scalar(
        select(DatasetVersion.id).where(
            DatasetVersion.dataset_id == dataset_id,
            DatasetVersion.state.in_([s.value for s in PUBLIC_STATES]),
        )
    )
    return found is not None


def require_dataset(
    db: DBSession,
    actor: Actor,
    action: DatasetAction,
    dataset: Dataset,
    version: DatasetVersion | None = None,
    *,
    ref: str | None = None,
) -> None:
    """Fail closed: 404 (401 anonymous) for what the actor may not view, 403 otherwise.
    The 404 names ``ref``, as asked: the same answer as for a dataset that does not exist
    (naming its site-wide ID would tell that a draft of that name exists)."""
    if may(db, actor, action, dataset, version):
        return
    if action is DatasetAction.VIEW or not may(db, actor, DatasetAction.VIEW, dataset, version):
        raise Unauthorized() if actor.is_anonymous else dataset_not_found(ref or dataset.stable_id)
    if actor.is_anonymous:
        raise Unauthorized()
    raise Forbidden(_refusal(action))


def _refusal(action: DatasetAction) -> str:
    return {
        DatasetAction.EDIT: "Only the dataset's owners may do this.",
        DatasetAction.CURATE: "Only curators may do this.",
        DatasetAction.DOWNLOAD: (
            "Only the dataset's owners and users whose access to this version was "
            "approved may read its files."
        ),
    }.get(action, "Not allowed.")


def dataset_not_found(ref: str) -> NotFound:
    return NotFound(f"Dataset '{ref}' not found.", field="dataset")


def load_dataset(db: DBSession, actor: Actor, ref: str, action: DatasetAction) -> Dataset:
    """The dataset named by its site-wide ID (``SD_D00001``) or its name, ignoring case,
    if ``actor`` may do ``action`` on it; fails closed."""
    dataset = _find(db, actor, ref)
    require_dataset(db, actor, action, dataset, ref=ref)
    return dataset


def load_version(
    db: DBSession,
    actor: Actor,
    ref: str,
    number: int,
    action: DatasetAction,
    *,
    lock: bool = False,
) -> tuple[Dataset, DatasetVersion]:
    """Version ``number`` of dataset ``ref``, if ``actor`` may do ``action`` on it. A step
    that changes the version (``action`` edit or curate, or ``lock``) holds its row until
    the transaction ends, so that two steps at once see each other's outcome."""
    dataset = _find(db, actor, ref)
    if not may(db, actor, DatasetAction.VIEW, dataset):
        raise Unauthorized() if actor.is_anonymous else dataset_not_found(ref)
    stmt = select(DatasetVersion).where(
        DatasetVersion.dataset_id == dataset.id, DatasetVersion.number == number
    )
    if lock or action in (DatasetAction.EDIT, DatasetAction.CURATE):
        stmt = stmt.with_for_update()
    version = db.scalar(stmt)
    if version is None or not may(db, actor, DatasetAction.VIEW, dataset, version):
        if actor.is_anonymous:
            raise Unauthorized()
        raise NotFound(f"Dataset '{ref}' has no version {number}.", field="version")
    require_dataset(db, actor, action, dataset, version, ref=ref)
    return dataset, version


def _find(db: DBSession, actor: Actor, ref: str) -> Dataset:
    dataset = db.scalar(
        select(Dataset).where(
            or_(
                func.lower(Dataset.stable_id) == ref.lower(),
                func.lower(Dataset.name) == ref.lower(),
            )
        )
    )
    if dataset is None:
        raise Unauthorized() if actor.is_anonymous else dataset_not_found(ref)
    return dataset
