"""/api/v1/admin/dicom-nodes: what a site administrator sets up, and bad input."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from scandepot.catalog.access import User
from tests.helpers import ADMIN, API

NODES = f"{API}/admin/dicom-nodes"


def test_add_list_remove(
    client: TestClient, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project("private", label="PRIV")
    node = {"ae_title": " HOROS1 ", "host": "10.0.0.7", "port": 11112, "login": "member"}
    r = client.post(NODES, json=node, auth=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "ae_title": "HOROS1",
        "host": "10.0.0.7",
        "port": 11112,
        "login": "member",
        "project": None,
        "description": "",
    }
    r = client.post(NODES, json={"ae_title": "CONSOLE", "project": "PRIV"}, auth=ADMIN)
    assert r.status_code == 201
    assert [n["ae_title"] for n in client.get(NODES, auth=ADMIN).json()] == ["CONSOLE", "HOROS1"]
    assert client.delete(f"{NODES}/HOROS1", auth=ADMIN).status_code == 204
    assert [n["ae_title"] for n in client.get(NODES, auth=ADMIN).json()] == ["CONSOLE"]
    events = client.get(f"{API}/audit", params={"action": "dicom_node.*"}, auth=ADMIN).json()
    seen = sorted((e["action"], e["target"], e["project"]) for e in events["items"])
    assert seen == [
        ("dicom_node.added", "CONSOLE", "PRIV"),
        ("dicom_node.added", "HOROS1", None),
        ("dicom_node.removed", "HOROS1", None),
    ]


def test_bad_input(client: TestClient, users: dict[str, User]) -> None:
    assert client.post(NODES, json={"ae_title": "WS1"}, auth=ADMIN).status_code == 201
    cases = [
        ({"ae_title": "WS1"}, 409),
        ({"ae_title": "BAD\\AE"}, 422),
        ({"ae_title": ""}, 422),
        ({"ae_title": "X" * 17}, 422),
        ({"ae_title": "WS2", "host": "h"}, 422),
        ({"ae_title": "WS2", "port": 70000, "host": "h"}, 422),
        ({"ae_title": "WS2", "login": "nobody"}, 404),
        ({"ae_title": "WS2", "project": "NOPE"}, 404),
        ({"ae_title": "WS2", "colour": "red"}, 422),
    ]
    for body, status in cases:
        r = client.post(NODES, json=body, auth=ADMIN)
        assert r.status_code == status, (body, r.text)
        assert set(r.json()) == {"error"}
    assert client.delete(f"{NODES}/WS2", auth=ADMIN).status_code == 404
    assert [n["ae_title"] for n in client.get(NODES, auth=ADMIN).json()] == ["WS1"]
