"""Small helpers shared by the API tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

ADMIN = ("admin", "correct-horse-battery")
API = "/api/v1"


def create_tree(
    client: TestClient,
    project: str = "P1",
    subject: str = "S1",
    session: str = "E1",
    scan: str = "1",
    auth: Any = ADMIN,
    **project_fields: Any,
) -> None:
    """A project with one subject, session and scan, each created through the API."""
    r = client.post(f"{API}/projects", json={"id": project, **project_fields}, auth=auth)
    assert r.status_code == 201, r.text
    r = client.post(f"{API}/projects/{project}/subjects", json={"label": subject}, auth=auth)
    assert r.status_code == 201, r.text
    r = client.post(
        f"{API}/projects/{project}/sessions",
        json={"label": session, "subject": subject, "date": "2024-03-01", "modality": "MR"},
        auth=auth,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"{API}/projects/{project}/sessions/{session}/scans",
        json={
            "id": scan,
            "SeriesNumber": int(scan) if scan.isdigit() else None,
            "SeriesDescription": "T1w MPRAGE",
            "Modality": "MR",
        },
        auth=auth,
    )
    assert r.status_code == 201, r.text


def scan_files_url(
    project: str = "P1", session: str = "E1", scan: str = "1", resource: str = "DICOM"
) -> str:
    return f"{API}/projects/{project}/sessions/{session}/scans/{scan}/resources/{resource}/files"
