"""Nothing private leaks: not into listings, counts, search results or error messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import API

VISIBLE = {
    # actor: the projects its listing shows, out of PRIV, PROT, PUB (each has roles set)
    "anonymous": {"PUB"},
    "outsider": {"PROT", "PUB"},
    "collaborator": {"PRIV", "PROT", "PUB"},
    "member": {"PRIV", "PROT", "PUB"},
    "owner": {"PRIV", "PROT", "PUB"},
    "admin": {"PRIV", "PROT", "PUB", "LONELY"},
}


@pytest.fixture
def three(make_project: Callable[..., str], client: TestClient, actors: dict[str, Any]) -> None:
    for accessibility, label in (("private", "PRIV"), ("protected", "PROT"), ("public", "PUB")):
        make_project(
            accessibility,
            label=label,
            name=f"{label} name",
            description=f"{label} secret description",
        )
        client.post(f"{API}/projects/{label}/subjects", json={"label": "S1"}, auth=actors["owner"])
    # A private project with no roles for anyone but the admin.
    client.post(f"{API}/projects", json={"id": "LONELY"}, auth=actors["admin"])


@pytest.mark.parametrize("actor", sorted(VISIBLE))
def test_listing_and_search(
    client: TestClient, actors: dict[str, Any], three: None, actor: str
) -> None:
    listing = client.get(f"{API}/projects", auth=actors[actor]).json()
    assert {p["id"] for p in listing["items"]} == VISIBLE[actor]
    assert listing["total"] == len(VISIBLE[actor])
    for q in ("P*", "*R*", "PRIV", "*secret*", "LONELY"):
        found = client.get(f"{API}/projects", params={"q": q}, auth=actors[actor]).json()
        assert {p["id"] for p in found["items"]} <= VISIBLE[actor]


def test_protected_shows_counts_but_nothing_below(
    client: TestClient, actors: dict[str, Any], three: None
) -> None:
    prot = client.get(f"{API}/projects/PROT", auth=actors["outsider"]).json()
    assert prot["counts"] == {"subjects": 1, "sessions": 0, "scans": 0}
    assert prot["name"] == "PROT name" and prot["settings"] is None and prot["role"] is None
    for url in ("/subjects", "/sessions", "/resources", "/users", "/subjects/S1"):
        r = client.get(f"{API}/projects/PROT{url}", auth=actors["outsider"])
        assert r.status_code == 403, url
        assert "S1" not in r.text
    assert client.get(f"{API}/projects/PROT", auth=actors["collaborator"]).json()["settings"]


def test_private_project_errors_are_those_of_a_missing_one(
    client: TestClient, actors: dict[str, Any], three: None
) -> None:
    for suffix in ("", "/subjects", "/subjects/S1", "/sessions/E1/scans/1/resources"):
        hidden = client.get(f"{API}/projects/PRIV{suffix}", auth=actors["outsider"])
        missing = client.get(f"{API}/projects/NOSUCH{suffix}", auth=actors["outsider"])
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == {
            "error": {
                **missing.json()["error"],
                "message": missing.json()["error"]["message"].replace("NOSUCH", "PRIV"),
            }
        }
        assert "secret" not in hidden.text
        # Anonymous visitors learn nothing either way: sign in first.
        anon_hidden = client.get(f"{API}/projects/PRIV{suffix}")
        anon_missing = client.get(f"{API}/projects/NOSUCH{suffix}")
        assert anon_hidden.status_code == anon_missing.status_code == 401
        assert anon_hidden.json() == anon_missing.json()


def test_writes_to_a_hidden_project_look_like_writes_to_a_missing_one(
    client: TestClient, actors: dict[str, Any], three: None
) -> None:
    hidden = client.post(
        f"{API}/projects/PRIV/subjects", json={"label": "X"}, auth=actors["outsider"]
    )
    missing = client.post(
        f"{API}/projects/NOSUCH/subjects", json={"label": "X"}, auth=actors["outsider"]
    )
    assert hidden.status_code == missing.status_code == 404
    # Creating a project with a hidden project's ID says only that the ID is taken.
    taken = client.post(f"{API}/projects", json={"id": "PRIV"}, auth=actors["outsider"])
    assert taken.status_code == 409
    assert "secret" not in taken.text and "PRIV name" not in taken.text


def test_members_list_is_for_readers(
    client: TestClient, actors: dict[str, Any], three: None
) -> None:
    members = client.get(f"{API}/projects/PRIV/users", auth=actors["collaborator"]).json()
    assert {(m["login"], m["role"]) for m in members} == {
        ("owner", "owner"),
        ("member", "member"),
        ("collaborator", "collaborator"),
    }
