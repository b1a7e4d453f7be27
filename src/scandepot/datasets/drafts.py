"""A dataset and its draft: create (with version 1 as a draft), show, list, change the
draft's metadata, delete a dataset that was never released, its history."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.datasets import DatasetAction, is_curator, load_dataset, require_dataset
from scandepot.access.permissions import require_signed_in
from scandepot.catalog.datasets import Dataset, DatasetOwner, DatasetVersion, VersionState
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.labels import check_label
from scandepot.context import Context
from scandepot.datasets import metadata
from scandepot.datasets.lifecycle import record
from scandepot.datasets.views import (
    DatasetView,
    EventView,
    VersionView,
    dataset_view,
    history,
    sees_inside,
    version_view,
)
from scandepot.db.base import utcnow
from scandepot.errors import Conflict


class DatasetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    metadata: dict[str, Any] = Field(default_factory=dict)


def create(ctx: Context, actor: Actor, data: DatasetCreate) -> DatasetView:
    """A new dataset owned by ``actor``, with version 1 as a draft."""
    require_signed_in(actor)
    name = check_label(data.name, field="name")
    meta = metadata.check(ctx.settings, data.metadata)
    with ctx.db.write() as db:
        taken = db.scalar(select(Dataset.id).where(func.lower(Dataset.name) == name.lower()))
        if taken is not None:
            raise Conflict(f"A dataset named '{name}' exists already.", field="name")
        dataset = Dataset(
            stable_id=next_stable_id(db, "dataset", ctx.settings.site_id),
            name=name,
            created_by=actor.login,
        )
        db.add(dataset)
        db.flush()
        assert actor.user_id is not None  # signed in
        db.add(DatasetOwner(dataset_id=dataset.id, user_id=actor.user_id))
        draft = DatasetVersion(
            dataset_id=dataset.id,
            number=1,
            state=VersionState.DRAFT,
            meta=meta,
            created_by=actor.login,
        )
        db.add(draft)
        db.flush()
        record(db, actor, dataset, draft, "created", details={"name": name})
        return dataset_view(db, actor, dataset)


def get(ctx: Context, actor: Actor, ref: str) -> DatasetView:
    with ctx.db.read() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.VIEW)
        return dataset_view(db, actor, dataset)


def list_mine(ctx: Context, actor: Actor) -> list[DatasetView]:
    """The datasets ``actor`` owns; for curators and site administrators, every one."""
    require_signed_in(actor)
    with ctx.db.read() as db:
        stmt = select(Dataset).order_by(Dataset.stable_id)
        if not is_curator(db, actor):
            owned = select(DatasetOwner.dataset_id).where(DatasetOwner.user_id == actor.user_id)
            stmt = stmt.where(Dataset.id.in_(owned))
        return [dataset_view(db, actor, d) for d in db.scalars(stmt)]


def the_draft(db: DBSession, dataset: Dataset) -> DatasetVersion:
    """The dataset's draft; Conflict when its last version was released."""
    draft = db.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id, DatasetVersion.state == VersionState.DRAFT
        )
    )
    if draft is None:
        raise Conflict(
            f"Dataset '{dataset.name}' has no draft: its versions are released and frozen; "
            "start a new version to change it.",
            field="version",
        )
    return draft


def update(ctx: Context, actor: Actor, ref: str, changes: dict[str, Any]) -> VersionView:
    """Change the draft's metadata: each field given replaces its value, null removes it."""
    with ctx.db.write() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.EDIT)
        draft = the_draft(db, dataset)
        meta = dict(draft.meta)
        for name, value in changes.items():
            if value is None:
                meta.pop(name, None)
            else:
                meta[name] = value
        draft.meta = metadata.check(ctx.settings, meta)
        draft.updated_at = utcnow()
        record(db, actor, dataset, draft, "updated", details={"fields": sorted(changes)})
        return version_view(db, actor, dataset, draft)


def delete(ctx: Context, actor: Actor, ref: str) -> None:
    """Delete a dataset none of whose versions was released (a released one is kept, its
    manifest part of the record; withdraw it instead)."""
    with ctx.db.write() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.EDIT)
        released = db.scalar(
            select(func.count(DatasetVersion.id)).where(
                DatasetVersion.dataset_id == dataset.id,
                DatasetVersion.state != VersionState.DRAFT,
            )
        )
        if released:
            raise Conflict(
                f"Dataset '{dataset.name}' has released versions and is kept; withdraw them "
                "instead.",
                field="dataset",
            )
        audit.record(
            db,
            actor,
            AuditAction.DATASET_DELETED,
            target=f"dataset {dataset.stable_id}",
            name=dataset.name,
        )
        db.delete(dataset)


def steps(ctx: Context, actor: Actor, ref: str) -> list[EventView]:
    """The dataset's history, for its owners and curators."""
    with ctx.db.read() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.VIEW)
        if not sees_inside(db, actor, dataset):
            require_dataset(db, actor, DatasetAction.EDIT, dataset)
        return history(db, dataset)
