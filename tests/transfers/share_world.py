"""Two projects for sharing: HOME holds subject S1 with session E1 (one scan, one file);
THERE is the project things are shared into. Both have owner, member and collaborator.
The test modules of sharing take the ``homes`` fixture from here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.archive import files
from scandepot.archive.resources import OwnerRef
from scandepot.context import Context
from tests.helpers import ADMIN, API

FILE_BYTES = b"DICM shared bytes"


@pytest.fixture
def homes(ctx: Context, client: TestClient, make_project: Callable[..., str]) -> Any:
    """Build HOME (with ``accessibility``) and THERE (private) for a test."""

    def build(accessibility: str = "private", there: str = "private") -> None:
        make_project(accessibility, label="HOME")
        make_project(there, label="THERE")
        for url, body in (
            (f"{API}/projects/HOME/subjects", {"label": "S1"}),
            (f"{API}/projects/HOME/sessions", {"label": "E1", "subject": "S1", "modality": "MR"}),
            (f"{API}/projects/HOME/sessions/E1/scans", {"id": "1", "SeriesDescription": "T1w"}),
        ):
            r = client.post(url, json=body, auth=ADMIN)
            assert r.status_code == 201, r.text
        with ctx.store.stage() as staged:
            staged.write(FILE_BYTES)
            ref = OwnerRef("HOME", session="E1", scan="1")
            files.commit_upload(ctx, SYSTEM, ref, "DICOM", "a.dcm", staged)

    return build
