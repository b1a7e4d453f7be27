"""Staged-session numbers count from 1: whoever may not see one learns nothing from asking."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from tests.helpers import API
from tests.prearchive.test_operations import PRE, Send, receive

MISSING = 999


@pytest.fixture
def staged_id(
    ctx: Context,
    make_project: Callable[..., str],
    storescu: Send,
    client: TestClient,
    actors: dict[str, Any],
    tmp_path: Path,
) -> int:
    """A staged session in the private project OTHER."""
    ctx.settings.prearchive_quiet_s = 0
    make_project("private", label="OTHER")
    receive(storescu, ctx, tmp_path / "in", Study())
    [item] = client.get(PRE, params={"project": "unassigned"}, auth=actors["admin"]).json()["items"]
    r = client.patch(f"{PRE}/{item['id']}", json={"project": "OTHER"}, auth=actors["admin"])
    assert r.status_code == 200, r.text
    return int(item["id"])


def _answer(r: Any, staged: int) -> tuple[int, Any]:
    body = r.json()
    if body.get("error"):  # the number asked for is in the message: compare the rest
        body["error"]["message"] = body["error"]["message"].replace(str(staged), "N")
    return r.status_code, body


ASKS = [("GET", "", None), ("PATCH", "", {"subject": "x"}), ("POST", "/archive", None)]


@pytest.mark.interop
def test_a_hidden_session_reads_as_a_missing_one(
    client: TestClient, actors: dict[str, Any], staged_id: int
) -> None:
    for role in ("outsider", "collaborator", "anonymous"):
        auth = actors[role]
        for method, suffix, body in ASKS:
            hidden = client.request(method, f"{PRE}/{staged_id}{suffix}", json=body, auth=auth)
            missing = client.request(method, f"{PRE}/{MISSING}{suffix}", json=body, auth=auth)
            assert _answer(hidden, staged_id) == _answer(missing, MISSING), (role, method)
            assert hidden.status_code == (401 if role == "anonymous" else 404)
            assert "OTHER" not in hidden.text
    # The project's members see it, so they may be told why they may not act on it.
    assert client.get(f"{PRE}/{staged_id}", auth=actors["member"]).status_code == 200
    assert client.post(f"{PRE}/{staged_id}/archive", auth=actors["member"]).status_code == 403


def test_a_number_beyond_any_id_is_not_found(
    client: TestClient, actors: dict[str, Any], users: object
) -> None:
    for number in (2**63, 2**64 + 1):
        r = client.get(f"{API}/prearchive/{number}", auth=actors["admin"])
        assert r.status_code == 404, r.text
