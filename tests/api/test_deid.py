"""/api/v1/projects/{project}/deid: scripts by version (a mistake refused naming its
line), switched off and on, tried on a sample instance, and the pseudonym table imported
(each bad row named), exported and cleared. Who may: tests/access/test_matrix.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from tests.deid.project_world import (
    CTP_BROKEN,
    CTP_NAME_ONLY,
    PROFILE,
    Archived,
    archive_mr_small,
    mr_small,
)

D = "/api/v1/projects/{}/deid"


@pytest.fixture
def archived(ctx: Context, make_project: Callable[..., str]) -> Archived:
    return archive_mr_small(ctx, make_project())


def test_scripts_by_version(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    project = make_project()
    base, owner = D.format(project), actors["owner"]
    assert client.get(f"{base}/scripts/archive", auth=owner).status_code == 404
    assert client.get(f"{base}/scripts", auth=owner).json() == []
    r = client.put(f"{base}/scripts/archive", json={"kind": "profile", "text": PROFILE}, auth=owner)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["version"], first["kind"], first["enabled"], first["changed"]) == (
        1,
        "profile",
        True,
        True,
    )
    assert first["label"] == f"archive v1 sha256:{first['sha256'][:12]}"
    r = client.put(
        f"{base}/scripts/archive", json={"kind": "ctp", "text": CTP_NAME_ONLY}, auth=owner
    )
    assert r.json()["version"] == 2
    r = client.patch(f"{base}/scripts/archive", json={"enabled": False}, auth=owner)
    assert (r.json()["version"], r.json()["enabled"], r.json()["text"]) == (3, False, CTP_NAME_ONLY)
    listed = client.get(f"{base}/scripts/archive/versions", auth=owner).json()
    assert [(v["version"], v["kind"], v["enabled"]) for v in listed] == [
        (3, "ctp", False),
        (2, "ctp", True),
        (1, "profile", True),
    ]
    assert "text" not in listed[0]
    assert client.get(f"{base}/scripts/archive/versions/1", auth=owner).json()["text"] == PROFILE
    assert client.get(f"{base}/scripts/archive/versions/9", auth=owner).status_code == 404
    assert [s["purpose"] for s in client.get(f"{base}/scripts", auth=owner).json()] == ["archive"]
    assert client.get(f"{base}/scripts/upload", auth=owner).status_code == 404


def test_a_malformed_script_is_refused_naming_its_line(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    base = D.format(make_project())
    r = client.put(
        f"{base}/scripts/export", json={"kind": "ctp", "text": CTP_BROKEN}, auth=actors["owner"]
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["field"] == "script" and "line 3" in error["message"]
    r = client.put(
        f"{base}/scripts/export", json={"kind": "dicomedit", "text": "x"}, auth=actors["owner"]
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "kind"
    assert client.get(f"{base}/scripts/export/versions", auth=actors["owner"]).json() == []


def test_a_script_tried_on_an_uploaded_file_and_an_archived_instance(
    client: TestClient, actors: dict[str, Any], archived: Archived
) -> None:
    base, owner = D.format(archived.project), actors["owner"]
    r = client.post(
        f"{base}/test",
        data={"kind": "ctp", "text": CTP_NAME_ONLY},
        files={"file": ("MR_small.dcm", mr_small().read_bytes(), "application/dicom")},
        auth=owner,
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["script"], result["sample"]) == ("not saved", "MR_small.dcm")
    name = next(row for row in result["rows"] if row["tag"] == "(0010,0010)")
    assert name == {
        "tag": "(0010,0010)",
        "keyword": "PatientName",
        "before": "CompressedSamples^MR1",
        "after": "",
        "action": "emptied",
    }
    assert result["status"] == "not_deidentified" and result["passed"] is False
    assert any(f["path"] == "(0010,0020)" for f in result["findings"])

    client.put(f"{base}/scripts/archive", json={"kind": "profile", "text": PROFILE}, auth=owner)
    r = client.post(
        f"{base}/test", data={"purpose": "archive", "session": archived.session}, auth=owner
    )
    assert r.status_code == 200, r.text
    assert r.json()["sample"] == f"session {archived.session}, instance {archived.SOPInstanceUID}"
    assert r.json()["passed"] is True, r.json()["message"]

    r = client.post(f"{base}/test", data={"purpose": "archive"}, auth=owner)
    assert r.status_code == 422 and r.json()["error"]["field"] == "file"
    r = client.post(
        f"{base}/test",
        data={"kind": "ctp", "text": CTP_NAME_ONLY},
        files={"file": ("x.dcm", b"not dicom", "application/dicom")},
        auth=owner,
    )
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("x.dcm: not a DICOM")


def test_the_pseudonym_table(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    base, owner = D.format(make_project()) + "/pseudonyms", actors["owner"]
    csv_type = {"content-type": "text/csv"}
    table = "kind,original,pseudonym\nptid,4MR1,SUBJ-001\nptid,9XY,SUBJ-002\n"
    r = client.post(base, content=table.encode(), headers=csv_type, auth=owner)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("mode", "added", "unchanged", "removed", "total")} == {
        "mode": "merge",
        "added": 2,
        "unchanged": 0,
        "removed": 0,
        "total": 2,
    }
    assert r.json()["rows"] == [
        {"line": 2, "kind": "ptid", "status": "added"},
        {"line": 3, "kind": "ptid", "status": "added"},
    ]
    bad = b"ptid,A,P1\nptid,B\nptid,C,P1\n"
    r = client.post(base, content=bad, headers=csv_type, auth=owner)
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [
        {"name": "line 2", "reason": "2 fields; a row is kind,original,pseudonym"},
        {"name": "line 3", "reason": "ptid pseudonym 'P1' is also on line 1"},
    ]
    r = client.get(base, auth=owner)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text == table
    r = client.post(
        base + "?mode=replace", content=b"ptid,X,SUBJ-9\n", headers=csv_type, auth=owner
    )
    assert (r.json()["removed"], r.json()["total"]) == (2, 1)
    r = client.post(
        base + "?format=properties", content=b"ptid/Y = SUBJ-10\n", headers=csv_type, auth=owner
    )
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["total"]) == (1, 2)
    assert client.delete(base, auth=owner).status_code == 204
    assert client.get(base, auth=owner).text == "kind,original,pseudonym\n"
