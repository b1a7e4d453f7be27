"""Refusals name the problem, and come before any byte of an archive."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.export.conftest import BASE, World
from tests.helpers import ADMIN

CASES = [
    ("/download?format=rar", 422, "format"),
    ("/download?layout=bids", 422, "layout"),
    ("/manifest?layout=bids", 422, "layout"),
    ("/download?sessions=E1,E9", 404, "sessions"),
    ("/download?subjects=S9", 404, "subjects"),
    ("/download?scans=1,77", 404, "scans"),
    ("/download?scans=ALL,1", 422, "scans"),
    ("/download?resources=DICOM,SEG", 404, "resources"),
    ("/download?resources=bad.label", 422, "resources"),
    ("/download?scan_types=(", 422, "scan_types"),
    ("/download?scan_types=^DWI", 404, "scan_types"),
    ("/download?date_from=2030-01-01", 404, "selection"),
    ("/download?date_from=yesterday", 422, "date_from"),
    ("/sessions/E9/download", 404, "sessions"),
    ("/sessions/E1/scans/77/download", 404, "scans"),
    ("/sessions/E1/scans/1/download?resources=QA", 404, "resources"),
    ("/sessions/E1/resources/NOPE/download", 404, "resource"),
    ("/sessions/E1/scans/2/resources/NIFTI/manifest", 404, "resource"),
    ("/subjects/S9/resources/FORMS/download", 404, "subject"),
]


@pytest.mark.parametrize(("query", "status", "field"), CASES)
def test_refusals_name_the_problem(
    client: TestClient, world: World, query: str, status: int, field: str
) -> None:
    r = client.get(BASE + query, auth=ADMIN)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["field"] == field


def test_an_empty_resource_is_an_empty_selection(client: TestClient, world: World) -> None:
    r = client.post(f"{BASE}/sessions/E1/resources", json={"label": "EMPTY"}, auth=ADMIN)
    assert r.status_code == 201
    r = client.get(f"{BASE}/sessions/E1/resources/EMPTY/download", auth=ADMIN)
    assert r.status_code == 404
    assert "no files" in r.json()["error"]["message"]
    r = client.get(f"{BASE}/sessions/E1/download?resources=EMPTY", auth=ADMIN)
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "selection"


def test_layout_collisions_are_refused(client: TestClient, world: World) -> None:
    # Scan '1-T1w' without a type and scan '1' of type 'T1w' share one folder name.
    r = client.post(f"{BASE}/sessions/E1/scans", json={"id": "1-T1w_MPRAGE"}, auth=ADMIN)
    assert r.status_code == 201
    url = f"{BASE}/sessions/E1/scans/1-T1w_MPRAGE/resources/DICOM/files/0000.dcm"
    assert client.put(url, content=b"x", auth=ADMIN).status_code == 201
    r = client.get(f"{BASE}/sessions/E1/download?layout=session", auth=ADMIN)
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "layout"
    assert "1-T1w_MPRAGE/DICOM/0000.dcm" in r.json()["error"]["message"]
