"""The audit log records who did what, when and from where; site admins read it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.helpers import API

ADMIN = ("admin", PASSWORD)


def events(client: TestClient, **query: str) -> list[dict[str, Any]]:
    r = client.get(f"{API}/audit", params={"limit": 1000, **query}, auth=ADMIN)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_the_audit_log_records_the_required_events(
    client: TestClient, make_project: Callable[..., str], actors: dict[str, Any]
) -> None:
    owner = actors["owner"]
    project = make_project("private")
    client.post(f"{API}/auth/login", json={"login": "member", "password": "wrong"})
    TestClient(client.app).post(f"{API}/auth/login", json={"login": "member", "password": PASSWORD})
    client.patch(f"{API}/projects/{project}", json={"accessibility": "public"}, auth=owner)
    client.put(f"{API}/projects/{project}/users/outsider", json={"role": "member"}, auth=owner)
    client.put(f"{API}/projects/{project}/resources/R/files/a.txt", content=b"x", auth=owner)
    client.get(f"{API}/projects/{project}/resources/R/files/a.txt")  # anonymous, public now
    client.delete(f"{API}/projects/{project}/resources/R/files/a.txt", auth=owner)
    client.post(f"{API}/projects/{project}/subjects", json={"label": "S1"}, auth=owner)
    client.delete(f"{API}/projects/{project}/subjects/S1", auth=owner)

    log = events(client)
    seen = {(e["action"], e["actor"]) for e in log}
    assert ("auth.login_failed", "member") in seen
    assert ("auth.login", "member") in seen
    assert ("project.accessibility", "owner") in seen
    assert ("project.role_set", "owner") in seen
    assert ("file.downloaded", "anonymous") in seen
    assert ("file.deleted", "owner") in seen
    assert ("subject.deleted", "owner") in seen
    change = next(e for e in log if e["action"] == "project.accessibility")
    assert change["detail"] == {"old": "private", "new": "public"}
    assert change["project"] == project
    assert change["address"]  # from where
    assert change["at"].endswith("Z")
    role = next(e for e in log if e["action"] == "project.role_set" and e["target"] == "outsider")
    assert role["detail"]["new"] == "member"
    # Newest first, and the filters work.
    assert log[0]["at"] >= log[-1]["at"]
    assert {e["action"] for e in events(client, action="auth.*")} <= {
        "auth.login",
        "auth.login_failed",
    }
    assert all(e["project"] == project for e in events(client, project=project))


def test_only_site_admins_read_the_audit_log(client: TestClient, actors: dict[str, Any]) -> None:
    assert client.get(f"{API}/audit").status_code == 401
    assert client.get(f"{API}/audit", auth=actors["owner"]).status_code == 403


def test_overwrites_are_recorded_and_not_modified_answers_are_not(
    client: TestClient, make_project: Callable[..., str], actors: dict[str, Any]
) -> None:
    project = make_project("private")
    url = f"{API}/projects/{project}/resources/R/files/a.txt"
    client.put(url, content=b"1", auth=actors["owner"])
    client.put(f"{url}?overwrite=true", content=b"2", auth=actors["owner"])
    etag = client.get(url, auth=actors["member"]).headers["etag"]
    assert (
        client.get(url, headers={"if-none-match": etag}, auth=actors["member"]).status_code == 304
    )
    client.get(url, headers={"range": "bytes=0-0"}, auth=actors["member"])
    replaced = events(client, action="file.replaced")
    assert [(e["actor"], e["project"]) for e in replaced] == [("owner", project)]
    downloads = events(client, action="file.downloaded")
    assert sorted(e["detail"].get("range", "") for e in downloads) == ["", "bytes=0-0"]


def test_times_without_a_zone_are_utc(client: TestClient, users: object) -> None:
    r = client.get(f"{API}/audit", params={"since": "2024-03-01T00:00:00"}, auth=ADMIN)
    assert r.status_code == 200
    r = client.get(f"{API}/audit", params={"since": "yesterday"}, auth=ADMIN)
    assert r.status_code == 422
