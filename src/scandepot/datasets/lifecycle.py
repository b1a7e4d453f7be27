"""A dataset's steps, each recorded with who and when (the dataset's history and the audit
log). This is the smallest form the validation and access services need: the lifecycle
(release, curation, publication, withdrawal, notifications) replaces it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.catalog.datasets import Dataset, DatasetEvent, DatasetVersion


def record(
    db: DBSession,
    actor: Actor,
    dataset: Dataset,
    version: DatasetVersion | None,
    action: str,
    *,
    comment: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """The step in the dataset's history and in the audit log, in the caller's
    transaction; ``action`` names an :class:`AuditAction` without its ``dataset.``."""
    db.add(
        DatasetEvent(
            dataset_id=dataset.id,
            version_id=version.id if version is not None else None,
            action=action,
            login=actor.login,
            comment=comment,
            details=dict(details or {}),
        )
    )
    target = f"dataset {dataset.stable_id}"
    if version is not None:
        target += f" v{version.number}"
    audit.record(db, actor, AuditAction(f"dataset.{action}"), target=target, **(details or {}))
