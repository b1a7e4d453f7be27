"""The automatic validation of a released version (docs/datasets.md).

:func:`start` is called by release inside its transaction. This is the smallest honest
version of it: the version is marked as being validated (``pending``); the job that
checks it and records the outcome replaces it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.datasets import DatasetVersion, ValidationState


def start(db: DBSession, version: DatasetVersion) -> None:
    """Mark ``version`` as being validated (in the caller's transaction)."""
    version.validation = ValidationState.PENDING
    version.validation_report = None
