"""What a dataset and its versions look like to whoever asks.

Everyone who may view a version sees its public part: the metadata, the totals, the
dates, the aggregates once published. Its owners and curators see what is inside too: the
members' count, the validation's report, the curator's comments; nothing here ever names
a label, UID or file of the underlying data (the members and the manifest have routes
of their own, under the owners' and curators' checks).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.datasets import DatasetAction, may
from scandepot.catalog.access import User
from scandepot.catalog.datasets import (
    Dataset,
    DatasetEvent,
    DatasetMember,
    DatasetOwner,
    DatasetVersion,
)
from scandepot.datasets import public_figures


@dataclass(frozen=True, slots=True)
class Inside:
    """What only owners and curators see of a version."""

    members: int
    validation_report: dict[str, Any] | None
    curator_comment: str


@dataclass(frozen=True, slots=True)
class VersionView:
    dataset: str  # SD_D00001
    name: str
    number: int
    state: str
    metadata: dict[str, Any]
    validation: str | None
    file_count: int | None
    byte_count: int | None
    manifest_sha256: str | None
    aggregates: dict[str, Any] | None
    created_by: str | None
    created_at: dt.datetime
    released_at: dt.datetime | None
    published_at: dt.datetime | None
    inside: Inside | None


@dataclass(frozen=True, slots=True)
class DatasetView:
    stable_id: str
    name: str
    created_by: str
    created_at: dt.datetime
    owners: list[str] | None  # None: not the caller's to see
    versions: list[VersionView]


@dataclass(frozen=True, slots=True)
class EventView:
    version: int | None
    action: str
    login: str
    at: dt.datetime
    comment: str
    details: dict[str, Any]


def sees_inside(db: DBSession, actor: Actor, dataset: Dataset) -> bool:
    return may(db, actor, DatasetAction.EDIT, dataset) or may(
        db, actor, DatasetAction.CURATE, dataset
    )


def version_view(
    db: DBSession, actor: Actor, dataset: Dataset, version: DatasetVersion
) -> VersionView:
    inside = None
    if sees_inside(db, actor, dataset):
        members = db.scalar(
            select(func.count(DatasetMember.id)).where(DatasetMember.version_id == version.id)
        )
        inside = Inside(int(members or 0), version.validation_report, version.curator_comment)
    # The manifest's exact totals and who made the version are for those who see inside
    # or read the files; the public has the catalogue's figures, small counts suppressed.
    full = inside is not None or may(db, actor, DatasetAction.DOWNLOAD, dataset, version)
    if full:
        figures = public_figures.without_search(version.aggregates)
    else:
        figures = public_figures.shown(db, version)
    return VersionView(
        dataset=dataset.stable_id,
        name=dataset.name,
        number=version.number,
        state=version.state,
        metadata=dict(version.meta),
        validation=version.validation if full else None,
        file_count=version.file_count if full else None,
        byte_count=version.byte_count if full else None,
        manifest_sha256=version.manifest_sha256 if full else None,
        aggregates=figures,
        created_by=version.created_by if full else None,
        created_at=version.created_at,
        released_at=version.released_at,
        published_at=version.published_at,
        inside=inside,
    )


def dataset_view(db: DBSession, actor: Actor, dataset: Dataset) -> DatasetView:
    """The dataset with the versions ``actor`` may view, newest first."""
    versions = db.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id)
        .order_by(DatasetVersion.number.desc())
    )
    shown = [
        version_view(db, actor, dataset, v)
        for v in versions
        if may(db, actor, DatasetAction.VIEW, dataset, v)
    ]
    owners = None
    if sees_inside(db, actor, dataset):
        owners = list(
            db.scalars(
                select(User.login)
                .join(DatasetOwner, DatasetOwner.user_id == User.id)
                .where(DatasetOwner.dataset_id == dataset.id)
                .order_by(User.login)
            )
        )
    return DatasetView(
        dataset.stable_id, dataset.name, dataset.created_by, dataset.created_at, owners, shown
    )


def history(db: DBSession, dataset: Dataset) -> list[EventView]:
    """Every step of ``dataset``, oldest first (the caller has checked who asks)."""
    rows = db.execute(
        select(DatasetEvent, DatasetVersion.number)
        .outerjoin(DatasetVersion, DatasetVersion.id == DatasetEvent.version_id)
        .where(DatasetEvent.dataset_id == dataset.id)
        .order_by(DatasetEvent.id)
    ).all()
    return [
        EventView(number, e.action, e.login, e.at, e.comment, dict(e.details)) for e, number in rows
    ]
