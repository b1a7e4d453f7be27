"""Accounts for site admins, and project roles for owners."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.helpers import API

ADMIN = ("admin", PASSWORD)


def test_admin_creates_and_lists_users(client: TestClient, users: object) -> None:
    r = client.post(
        f"{API}/users",
        json={"login": "jdoe", "full_name": "J. Doe", "email": "jdoe@example.org"},
        auth=ADMIN,
    )
    assert r.status_code == 201
    generated = r.json()["password"]
    assert generated and len(generated) >= 16
    assert client.get(f"{API}/auth/me", auth=("jdoe", generated)).json()["full_name"] == "J. Doe"
    r = client.post(f"{API}/users", json={"login": "JDOE", "password": PASSWORD}, auth=ADMIN)
    assert r.status_code == 409
    r = client.post(f"{API}/users", json={"login": "x y", "password": PASSWORD}, auth=ADMIN)
    assert r.status_code == 422 and r.json()["error"]["field"] == "login"
    r = client.post(f"{API}/users", json={"login": "short", "password": "1234"}, auth=ADMIN)
    assert r.status_code == 422 and r.json()["error"]["field"] == "password"
    found = client.get(f"{API}/users?q=j*", auth=ADMIN).json()
    assert [u["login"] for u in found["items"]] == ["jdoe"]
    assert "password" not in str(client.get(f"{API}/users/jdoe", auth=ADMIN).json())


def test_users_read_only_themselves(client: TestClient, users: object) -> None:
    assert client.get(f"{API}/users/member", auth=("member", PASSWORD)).status_code == 200
    assert client.get(f"{API}/users/owner", auth=("member", PASSWORD)).status_code == 403


def test_the_last_site_admin_stays(client: TestClient, users: object) -> None:
    r = client.patch(f"{API}/users/admin", json={"site_admin": False}, auth=ADMIN)
    assert r.status_code == 409
    r = client.patch(f"{API}/users/admin", json={"enabled": False}, auth=ADMIN)
    assert r.status_code == 409
    client.patch(f"{API}/users/owner", json={"site_admin": True}, auth=ADMIN)
    assert (
        client.patch(f"{API}/users/admin", json={"site_admin": False}, auth=ADMIN).status_code
        == 200
    )


def test_admin_resets_a_password(client: TestClient, users: object) -> None:
    r = client.patch(f"{API}/users/member", json={"password": "reset-by-admin"}, auth=ADMIN)
    assert r.status_code == 200
    assert client.get(f"{API}/auth/me", auth=("member", PASSWORD)).status_code == 401
    assert client.get(f"{API}/auth/me", auth=("member", "reset-by-admin")).status_code == 200


def test_owners_manage_roles_and_keep_an_owner(
    client: TestClient, make_project: Callable[..., str], actors: dict[str, Any]
) -> None:
    project = make_project("private")
    owner = actors["owner"]
    url = f"{API}/projects/{project}/users"
    assert (
        client.put(f"{url}/outsider", json={"role": "collaborator"}, auth=owner).status_code == 200
    )
    assert (
        client.get(f"{API}/projects/{project}/subjects", auth=actors["outsider"]).status_code == 200
    )
    assert (
        client.put(f"{url}/outsider", json={"role": "member"}, auth=owner).json()["role"]
        == "member"
    )
    assert client.put(f"{url}/outsider", json={"role": "boss"}, auth=owner).status_code == 422
    assert client.put(f"{url}/nobody", json={"role": "member"}, auth=owner).status_code == 404
    assert client.delete(f"{url}/outsider", auth=owner).status_code == 204
    assert (
        client.get(f"{API}/projects/{project}/subjects", auth=actors["outsider"]).status_code == 404
    )
    # The last owner can neither leave nor step down.
    assert client.delete(f"{url}/owner", auth=owner).status_code == 409
    assert client.put(f"{url}/owner", json={"role": "member"}, auth=owner).status_code == 409
    client.put(f"{url}/member", json={"role": "owner"}, auth=owner)
    assert client.delete(f"{url}/owner", auth=owner).status_code == 204
    # Members cannot hand out roles.
    assert (
        client.put(
            f"{url}/outsider", json={"role": "owner"}, auth=actors["collaborator"]
        ).status_code
        == 403
    )


def test_creator_of_a_project_becomes_its_owner(client: TestClient, actors: dict[str, Any]) -> None:
    r = client.post(f"{API}/projects", json={"id": "MINE"}, auth=actors["outsider"])
    assert r.status_code == 201 and r.json()["role"] == "owner"
    members = client.get(f"{API}/projects/MINE/users", auth=actors["outsider"]).json()
    assert members == [{"login": "outsider", "full_name": "Outsider", "role": "owner"}]


def test_public_project_people_are_not_public(
    client: TestClient, make_project: Callable[..., str], actors: dict[str, Any]
) -> None:
    project = make_project("public")
    assert client.get(f"{API}/projects/{project}/subjects").status_code == 200
    assert client.get(f"{API}/projects/{project}/users").status_code == 401
    assert client.get(f"{API}/projects/{project}/users", auth=actors["outsider"]).status_code == 403
