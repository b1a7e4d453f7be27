"""/api/v1/projects/{project}/webhooks: the same service through the API, the secret
shown once, a bad field named, and the delivery log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.catalog import journal
from scandepot.context import Context
from scandepot.events import SessionArchived
from scandepot.notify import webhooks

H = "/api/v1/projects/P/webhooks"
SECRET = "api-secret-0123456789abcdef"


def test_add_list_change_remove(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
) -> None:
    make_project(label="P")
    owner = actors["owner"]
    r = client.post(H, json={"url": "http://127.0.0.1:9/in"}, auth=owner)
    assert r.status_code == 201, r.text
    made = r.json()
    assert len(made["secret"]) >= 40 and made["secret_hint"] == made["secret"][-4:]
    r = client.post(
        H,
        json={"url": "https://h.example.org/", "secret": SECRET, "events": ["JobFinished"]},
        auth=owner,
    )
    assert r.status_code == 201 and r.json()["secret"] is None
    given = r.json()["id"]

    listed = client.get(H, auth=owner)
    assert listed.status_code == 200
    assert [(h["url"], h["events"]) for h in listed.json()] == [
        ("http://127.0.0.1:9/in", []),
        ("https://h.example.org/", ["JobFinished"]),
    ]
    assert all("secret" not in h and h["secret_set"] for h in listed.json())
    assert made["secret"] not in listed.text and SECRET not in listed.text
    one = client.get(f"{H}/{given}", auth=owner)
    assert one.status_code == 200 and SECRET not in one.text

    r = client.put(f"{H}/{given}", json={"enabled": False, "description": "LIMS"}, auth=owner)
    assert r.status_code == 200
    assert (r.json()["enabled"], r.json()["description"], r.json()["secret"]) == (
        False,
        "LIMS",
        None,
    )
    r = client.put(f"{H}/{given}", json={"new_secret": True}, auth=owner)
    assert r.json()["secret"] and r.json()["secret"] != SECRET
    assert client.delete(f"{H}/{made['id']}", auth=owner).status_code == 204
    assert client.get(f"{H}/{made['id']}", auth=owner).status_code == 404
    assert [h["id"] for h in client.get(H, auth=owner).json()] == [given]


def test_bad_input_names_the_field(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    make_project(label="P")
    owner = actors["owner"]
    cases = [
        ({"url": "ftp://h.example.org/"}, "url"),
        ({"url": "https://u:p@h.example.org/"}, "url"),
        ({"url": "https://h.example.org/", "secret": "short"}, "secret"),
        ({"url": "https://h.example.org/", "events": ["Nope"]}, "events"),
        ({"url": "https://h.example.org/", "colour": "red"}, "colour"),
        ({}, "url"),
    ]
    for body, field in cases:
        r = client.post(H, json=body, auth=owner)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)
    assert client.get(H, auth=owner).json() == []
    assert client.put(f"{H}/999", json={"enabled": True}, auth=owner).status_code == 404


def test_the_delivery_log_and_a_delivery_sent_again(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
) -> None:
    make_project(label="P")
    owner = actors["owner"]
    hook = client.post(H, json={"url": "http://127.0.0.1:9/in"}, auth=owner).json()
    with ctx.db.write() as db:
        event = SessionArchived("P", "S1", "E1", "SD_E00001", ("1",))
        webhooks.enqueue(db, journal.record(db, event), public_url="https://a.example.org")
    r = client.get(H + "/deliveries", auth=owner)
    assert r.status_code == 200
    (logged,) = r.json()
    assert (logged["event"], logged["url"], logged["status"], logged["webhook_id"]) == (
        "SessionArchived",
        "http://127.0.0.1:9/in",
        "pending",
        hook["id"],
    )
    assert logged["attempts"] == 0 and logged["next_attempt_at"] is not None
    r = client.post(f"{H}/deliveries/{logged['id']}/redeliver", auth=owner)
    assert r.status_code == 202 and r.json()["id"] != logged["id"]
    assert len(client.get(H + "/deliveries", auth=owner).json()) == 2
    assert len(client.get(H + "/deliveries?limit=1", auth=owner).json()) == 1
    assert client.post(f"{H}/deliveries/999/redeliver", auth=owner).status_code == 404
    webhooks.remove(ctx, SYSTEM, "P", hook["id"])
    r = client.post(f"{H}/deliveries/{logged['id']}/redeliver", auth=owner)
    assert r.status_code == 409 and "removed" in r.text


def test_members_and_others_may_not(
    client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    make_project("public", label="P")
    body = {"url": "http://127.0.0.1:9/in"}
    for name, status in (("anonymous", 401), ("outsider", 403), ("collaborator", 403)):
        assert client.get(H, auth=actors[name]).status_code == status
        assert client.post(H, json=body, auth=actors[name]).status_code == status
    assert client.post(H, json=body, auth=actors["member"]).status_code == 403
    assert client.get(H + "/deliveries", auth=actors["member"]).status_code == 403
    assert client.get(H, auth=actors["admin"]).json() == []
