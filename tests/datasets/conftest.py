"""What the tests of datasets share: a published release of two de-identified sessions,
owned by the ``owner`` account (tests/datasets/released.py writes it)."""

from __future__ import annotations

from typing import Any

import pytest

from scandepot.access.users import actor_for
from scandepot.catalog.datasets import VersionState
from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from tests.datasets.released import Released, archive_script, archive_study, release


@pytest.fixture
def published(ctx: Context, make_project: Any) -> Released:
    project = make_project()
    archive_script(ctx, project)
    sessions = [
        archive_study(ctx, project, Study(PatientName=f"Doe^P{n}", PatientID=f"PID{n}"))
        for n in (1, 2)
    ]
    return release(ctx, sessions, state=VersionState.PUBLISHED)


@pytest.fixture
def people(users: dict[str, Any]) -> dict[str, Any]:
    """The actors of the ``users`` accounts, by login."""
    return {login: actor_for(user) for login, user in users.items()}
