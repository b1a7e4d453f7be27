"""The clinical routes of /api/v1, through the HTTP client: schema, records, import and
export, and who may use them."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.clinical.world import SCHEMA, SESSION_SCHEMA
from tests.helpers import ADMIN, API, create_tree

P = f"{API}/projects/P1"
pytestmark = pytest.mark.usefixtures("users")


def _tree(client: TestClient) -> None:
    create_tree(client)  # P1, subject S1, session E1
    r = client.post(f"{P}/subjects", json={"label": "S2"}, auth=ADMIN)
    assert r.status_code == 201, r.text


def test_schema_routes(client: TestClient) -> None:
    _tree(client)
    r = client.get(f"{P}/clinical/schema/subject", auth=ADMIN)
    assert r.status_code == 404 and "no clinical schema" in r.json()["error"]["message"]
    r = client.put(
        f"{P}/clinical/schema/subject",
        json={"type": "object", "properties": {"a": {"type": "integer", "minimum": "x"}}},
        auth=ADMIN,
    )
    assert r.status_code == 422
    assert "Not a valid JSON Schema" in r.json()["error"]["message"]
    assert "'x' is not of type 'number'" in r.json()["error"]["message"]
    r = client.put(f"{P}/clinical/schema/subject", json=SCHEMA, auth=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["version"], body["changed"], body["conformance"]["records"]) == (1, True, 0)
    assert body["variables"][0] == {
        "name": "weight",
        "type": "number",
        "unit": "kg",
        "required": False,
        "identifying": False,
        "enum": None,
        "title": None,
    }
    assert body["schema"]["additionalProperties"] is False
    client.put(f"{P}/clinical/schema/session", json=SESSION_SCHEMA, auth=ADMIN)
    both = client.get(f"{P}/clinical/schema", auth=ADMIN).json()
    assert both["subject"]["version"] == 1 and both["session"]["variables"][0]["name"] == "mmse"
    versions = client.get(f"{P}/clinical/schema/subject/versions", auth=ADMIN).json()
    assert [v["version"] for v in versions] == [1]
    assert client.get(f"{P}/clinical/schema/subject/versions/1", auth=ADMIN).status_code == 200
    assert client.get(f"{P}/clinical/schema/subject/versions/7", auth=ADMIN).status_code == 404
    assert client.get(f"{P}/clinical/schema/visit", auth=ADMIN).status_code == 422
    check = client.get(f"{P}/clinical/schema/subject/check", auth=ADMIN).json()
    assert check == {"schema_version": 1, "records": 0, "failing": 0, "nonconforming": []}


def test_record_routes(client: TestClient) -> None:
    _tree(client)
    client.put(f"{P}/clinical/schema/subject", json=SCHEMA, auth=ADMIN)
    client.put(f"{P}/clinical/schema/session", json=SESSION_SCHEMA, auth=ADMIN)
    url = f"{P}/subjects/S1/clinical"
    assert client.get(url, auth=ADMIN).status_code == 404
    r = client.put(url, json={"diagnosis": "AD", "age": 200, "smoker": "no"}, auth=ADMIN)
    assert r.status_code == 422
    details = {d["name"]: d["reason"] for d in r.json()["error"]["details"]}
    assert set(details) == {"/age", "/smoker"}
    r = client.put(url, json={"diagnosis": "AD", "age": 80}, auth=ADMIN)
    assert r.status_code == 201 and r.headers["etag"] == '"1"'
    assert r.json()["values"] == {"age": 80, "diagnosis": "AD"}
    r = client.patch(url, json={"age": None, "weight": 60}, headers={"if-match": '"1"'}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["version"] == 2
    r = client.patch(url, json={"weight": 61}, headers={"if-match": '"1"'}, auth=ADMIN)
    assert r.status_code == 409
    r = client.put(url, json={"diagnosis": "AD", "weight": 60}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["version"] == 2  # unchanged
    assert client.get(url, auth=ADMIN).json()["values"] == {"weight": 60, "diagnosis": "AD"}
    assert client.delete(url, auth=ADMIN).status_code == 204
    assert client.get(url, auth=ADMIN).status_code == 404
    history = client.get(f"{url}/history", auth=ADMIN).json()
    assert [(h["version"], h["source"], h["changed_by"]) for h in history] == [
        (3, "api", "admin"),
        (2, "api", "admin"),
        (1, "api", "admin"),
    ]
    assert history[0]["values"] is None
    r = client.put(f"{P}/sessions/E1/clinical", json={"mmse": 30}, auth=ADMIN)
    assert r.status_code == 201 and r.json()["session"] == "E1" and r.json()["subject"] == "S1"
    assert client.put(f"{P}/subjects/S9/clinical", json={}, auth=ADMIN).status_code == 404
    assert client.put(f"{P}/sessions/E9/clinical", json={}, auth=ADMIN).status_code == 404
    assert client.put(url, json=["AD"], auth=ADMIN).status_code == 422


def _import(client: TestClient, data: bytes, auth: Any = ADMIN, **params: Any) -> Any:
    return client.post(
        f"{P}/clinical/import",
        content=data,
        params=params,
        headers={"content-type": "text/csv"},
        auth=auth,
    )


def test_import_and_export_routes(client: TestClient) -> None:
    _tree(client)
    client.put(f"{P}/clinical/schema/subject", json=SCHEMA, auth=ADMIN)
    bad = b"subject,diagnosis,age\nS1,AD,1\nS2,flu,2\nS3,HC,3\n"
    r = _import(client, bad)
    assert r.status_code == 422
    body = r.json()
    assert not body["written"] and "nothing was written" in body["error"]["message"]
    assert body["counts"] == {
        "created": 0,
        "changed": 0,
        "unchanged": 0,
        "refused": 2,
        "not_written": 1,
    }
    assert body["rows"][1]["problems"][0]["column"] == "diagnosis"
    assert "no subject 'S3'" in body["rows"][2]["problems"][0]["reason"]
    r = _import(client, bad, partial="true")
    assert r.status_code == 200 and r.json()["counts"]["created"] == 1
    r = _import(
        client,
        "\ufeffWho;Dx\nS2;HC\n".encode(),
        subject_column="Who",
        mapping=["Dx=diagnosis"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["delimiter"] == ";"
    r = _import(client, "subject,notes\nS1,Jos\xe9\n".encode("latin-1"))
    assert r.status_code == 422 and "Save it as UTF-8" in r.json()["error"]["message"]
    r = _import(client, b"subject,blood\nS1,A\n")
    assert r.status_code == 422 and "blood" in r.json()["error"]["message"]
    assert _import(client, b"subject,x\n", mapping=["nonsense"]).status_code == 422
    r = client.get(f"{P}/clinical/export", auth=ADMIN)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="P1-clinical-subject.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert [row[0] for row in rows] == ["subject", "S1", "S2"]
    r = client.get(f"{P}/clinical/export", params={"format": "json"}, auth=ADMIN)
    assert [rec["subject"] for rec in r.json()["records"]] == ["S1", "S2"]
    r = client.get(f"{P}/clinical/export", params={"deidentified": "true"}, auth=ADMIN)
    assert r.status_code == 409  # no export script


def test_who_may(client: TestClient, actors: dict[str, Any]) -> None:
    _tree(client)
    for role in ("owner", "member", "collaborator"):
        r = client.put(f"{P}/users/{role}", json={"role": role}, auth=ADMIN)
        assert r.status_code in (200, 201), r.text
    assert (
        client.put(f"{P}/clinical/schema/subject", json=SCHEMA, auth=actors["member"]).status_code
        == 403
    )
    assert (
        client.put(f"{P}/clinical/schema/subject", json=SCHEMA, auth=actors["owner"]).status_code
        == 200
    )
    url = f"{P}/subjects/S1/clinical"
    assert client.put(url, json={"diagnosis": "AD"}, auth=actors["member"]).status_code == 201
    assert client.get(url, auth=actors["collaborator"]).status_code == 200
    assert client.patch(url, json={"age": 3}, auth=actors["collaborator"]).status_code == 403
    assert _import(client, b"subject,age\nS1,3\n", auth=actors["collaborator"]).status_code == 403
    for name, code in (("outsider", 404), ("anonymous", 401)):
        assert client.get(url, auth=actors[name]).status_code == code
        assert client.get(f"{url}/history", auth=actors[name]).status_code == code
        assert client.put(url, json={"diagnosis": "AD"}, auth=actors[name]).status_code == code
        assert client.get(f"{P}/clinical/export", auth=actors[name]).status_code == code
        assert _import(client, b"subject,age\nS1,3\n", auth=actors[name]).status_code == code
        assert client.get(f"{P}/clinical/schema/subject", auth=actors[name]).status_code == code
