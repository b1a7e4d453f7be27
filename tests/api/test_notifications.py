"""/api/v1: a project's recipients, the signed-in user's own choices, and the failed
deliveries, with the error shape the other routes answer in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from scandepot.context import Context
from tests.notify.test_failures import refused_and_failed

R = "/api/v1/projects/{}/notifications/recipients"


def test_an_owner_manages_the_recipients(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    url, owner = R.format(project), actors["owner"]
    r = client.post(url, json={"address": "PI@Example.org"}, auth=owner)
    assert r.status_code == 201, r.text
    added = r.json()
    assert (added["address"], added["topics"], added["project"]) == (
        "PI@example.org",
        ["archived"],
        project,
    )
    r = client.put(f"{url}/{added['id']}", json={"topics": ["archived", "process"]}, auth=owner)
    assert r.status_code == 200 and r.json()["topics"] == ["archived", "process"]
    listed = client.get(url, auth=owner).json()
    assert [(x["address"], x["topics"]) for x in listed] == [
        ("PI@example.org", ["archived", "process"])
    ]
    for name in ("member", "collaborator"):
        assert client.get(url, auth=actors[name]).status_code == 403
    assert client.get(url, auth=actors["outsider"]).status_code == 404
    assert client.delete(f"{url}/{added['id']}", auth=actors["member"]).status_code == 403
    assert client.delete(f"{url}/{added['id']}", auth=owner).status_code == 204
    assert client.delete(f"{url}/{added['id']}", auth=owner).status_code == 404
    assert client.get(url, auth=owner).json() == []


def test_bad_recipients_are_refused_naming_the_field(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    url, owner = R.format(project), actors["owner"]
    cases = [
        ({"address": "not-an-email"}, 422, "invalid", "address"),
        ({"address": "pi@example.org", "topics": ["weekly"]}, 422, "invalid", "topics"),
        ({"address": "pi@example.org", "colour": "red"}, 422, "invalid", "colour"),
        ({"topics": ["archived"]}, 422, "invalid", "address"),
    ]
    for body, code, kind, field in cases:
        r = client.post(url, json=body, auth=owner)
        assert r.status_code == code, (body, r.text)
        assert (r.json()["error"]["code"], r.json()["error"]["field"]) == (kind, field), body
    assert client.post(url, json={"address": "pi@example.org"}, auth=owner).status_code == 201
    r = client.post(url, json={"address": "pi@example.org"}, auth=owner)
    assert r.status_code == 409 and r.json()["error"]["field"] == "address"
    assert "pi@example.org" in r.json()["error"]["message"]


def test_each_user_chooses_for_themself(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    url = "/api/v1/auth/notifications"
    mine = client.get(url, auth=actors["member"]).json()
    assert mine["everywhere"] == {"archived": True, "process": False, "attention": True}
    assert mine["chosen"] == {"archived": None, "process": None, "attention": None}
    assert [p["project"] for p in mine["projects"]] == [project]
    r = client.put(
        url, json={"project": project, "topics": {"process": True}}, auth=actors["member"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["projects"][0]["topics"]["process"] is True
    assert client.get(url, auth=actors["owner"]).json()["projects"][0]["topics"]["process"] is (
        False
    )
    r = client.put(url, json={"topics": {"stuck": False}}, auth=actors["member"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "topics"
    r = client.put(
        url, json={"project": project, "topics": {"process": True}}, auth=actors["outsider"]
    )
    assert r.status_code == 404 and r.json()["error"]["field"] == "project"
    assert client.get(url).status_code == 401
    r = client.delete(f"{url}/projects/{project}", auth=actors["member"])
    assert r.status_code == 204
    assert set(client.get(url, auth=actors["member"]).json()["projects"][0]["own"].values()) == {
        None
    }


def test_site_administrators_see_retry_and_dismiss_failures(
    ctx: Context, client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    project = make_project("private")
    refused, failed, _ = refused_and_failed(ctx, project)
    url, admin = "/api/v1/admin/notifications", actors["admin"]
    r = client.get(url, auth=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 2 and body["counts"]["refused"] == 1 and body["counts"]["sent"] == 1
    first = {x["id"]: x for x in body["items"]}[refused]
    assert (first["to"], first["project"], first["code"], first["channel"]) == (
        "gone@example.org",
        project,
        550,
        "email",
    )
    for name in ("owner", "member", "outsider"):
        assert client.get(url, auth=actors[name]).status_code == 403
        assert client.post(f"{url}/{refused}/retry", auth=actors[name]).status_code == 403
    r = client.post(f"{url}/{refused}/retry", auth=admin)
    assert (r.status_code, r.json()["status"], r.json()["attempts"]) == (200, "pending", 0)
    r = client.post(f"{url}/{failed}/dismiss", auth=admin)
    assert (r.status_code, r.json()["status"]) == (200, "dismissed")
    assert client.post(f"{url}/{failed}/dismiss", auth=admin).status_code == 409
    assert client.get(url, auth=admin).json()["total"] == 0
    r = client.get(url + "?status=nope", auth=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "status"
