"""What the public sees of a published version: aggregates only, computed at
publication and stored (docs/datasets.md).

This is the smallest honest version: counts of subjects, sessions and files of the
manifest, each below ``suppress_below`` shown as ``"<N"``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.datasets import DatasetFile, DatasetVersion


def suppressed(count: int, suppress_below: int) -> int | str:
    return f"<{suppress_below}" if 0 < count < suppress_below else count


def compute(db: DBSession, version: DatasetVersion, *, suppress_below: int) -> dict[str, Any]:
    subjects, sessions, files = db.execute(
        select(
            func.count(distinct(DatasetFile.subject_id)),
            func.count(distinct(DatasetFile.session_id)),
            func.count(DatasetFile.id),
        ).where(DatasetFile.version_id == version.id)
    ).one()
    return {
        "subjects": suppressed(int(subjects), suppress_below),
        "sessions": suppressed(int(sessions), suppress_below),
        "files": suppressed(int(files), suppress_below),
    }
