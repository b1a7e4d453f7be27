"""The figures the public sees of a version: only the newest published version's.

Each version's figures are suppressed on their own (small counts shown as "<5"), but two
versions side by side could be subtracted: a version that adds one subject to the last
would show that subject's sex, age and clinical values in the difference. So once a newer
version is published, an older one keeps its address and metadata and shows no figures;
its owners, curators and approved readers still see them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.datasets import DatasetVersion, VersionState
from scandepot.datasets import search_terms


def newest_published(db: DBSession, version: DatasetVersion) -> bool:
    if version.state != VersionState.PUBLISHED:
        return False
    newer = db.scalar(
        select(DatasetVersion.id).where(
            DatasetVersion.dataset_id == version.dataset_id,
            DatasetVersion.state == VersionState.PUBLISHED,
            DatasetVersion.number > version.number,
        )
    )
    return newer is None


def without_search(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stored figures without the catalogue's own search terms."""
    if stored is None:
        return None
    return {k: v for k, v in stored.items() if k != search_terms.KEY}


def shown(db: DBSession, version: DatasetVersion) -> dict[str, Any] | None:
    """The figures of ``version`` the public sees, or None (superseded, withdrawn)."""
    return without_search(version.aggregates) if newest_published(db, version) else None
