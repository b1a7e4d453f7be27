"""A small project to download from: two subjects, three sessions, scans with DICOM and
NIFTI, a session-level QA resource and a subject-level resource."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from tests import saved_world
from tests.helpers import ADMIN, API

BASE = f"{API}/projects/P1"


@dataclass
class World:
    # (subject, session, scan or None, resource, path) -> bytes
    files: dict[tuple[str, str | None, str | None, str, str], bytes] = field(default_factory=dict)

    def select(self, **want: object) -> dict[tuple[str, str | None, str | None, str, str], bytes]:
        keys = ("subject", "session", "scan", "resource", "path")
        out = {}
        for key, body in self.files.items():
            values = dict(zip(keys, key, strict=True))
            if all(
                values[k] in v if isinstance(v, (set, tuple, list)) else values[k] == v
                for k, v in want.items()
            ):
                out[key] = body
        return out

    def files_below_sessions(
        self,
    ) -> dict[tuple[str, str | None, str | None, str, str], bytes]:
        """What a project selection takes: session- and scan-level resources."""
        return {k: v for k, v in self.files.items() if k[1] is not None}


SCANS = {"1": "T1w MPRAGE", "2": "EPI rest", "10": "EPI task"}


def put(client: TestClient, url: str, body: bytes) -> None:
    r = client.put(url, content=body, auth=ADMIN)
    assert r.status_code == 201, r.text


@pytest.fixture
def world(ctx: Context, client: TestClient, users: object) -> World:
    """Built once per test process and catalog through the API, then put back
    (tests/saved_world.py)."""
    return saved_world.kept(ctx, "export", lambda: build(client))


def build(client: TestClient) -> World:
    w = World()
    assert client.post(f"{API}/projects", json={"id": "P1"}, auth=ADMIN).status_code == 201
    sessions = {"E1": ("S1", "2024-03-01"), "E2": ("S1", "2024-04-01"), "E3": ("S2", "2024-05-01")}
    for subject in ("S1", "S2"):
        r = client.post(f"{BASE}/subjects", json={"label": subject}, auth=ADMIN)
        assert r.status_code == 201
    for session, (subject, date) in sessions.items():
        r = client.post(
            f"{BASE}/sessions",
            json={"label": session, "subject": subject, "date": date},
            auth=ADMIN,
        )
        assert r.status_code == 201
        for scan, scan_type in SCANS.items():
            r = client.post(
                f"{BASE}/sessions/{session}/scans",
                json={"id": scan, "type": scan_type},
                auth=ADMIN,
            )
            assert r.status_code == 201
            for i in range(2):
                body = (
                    os.urandom(1000 + i) + hashlib.sha256(f"{session}{scan}{i}".encode()).digest()
                )
                path = f"{i:04d}.dcm"
                put(
                    client,
                    f"{BASE}/sessions/{session}/scans/{scan}/resources/DICOM/files/{path}",
                    body,
                )
                w.files[subject, session, scan, "DICOM", path] = body
            if scan != "2":
                body = os.urandom(3000)
                path = f"sub/{scan}.nii.gz"
                put(
                    client,
                    f"{BASE}/sessions/{session}/scans/{scan}/resources/NIFTI/files/{path}",
                    body,
                )
                w.files[subject, session, scan, "NIFTI", path] = body
        body = f"qa report {session}".encode()
        put(client, f"{BASE}/sessions/{session}/resources/QA/files/report.txt", body)
        w.files[subject, session, None, "QA", "report.txt"] = body
    body = b"consent"
    put(client, f"{BASE}/subjects/S1/resources/FORMS/files/consent.pdf", body)
    w.files["S1", None, None, "FORMS", "consent.pdf"] = body
    return w
