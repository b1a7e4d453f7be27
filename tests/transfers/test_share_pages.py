"""Sharing in the web pages: the Sharing section at home and through the project shared
into, the share and unshare forms, shared rows marked in a project's tabs."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from scandepot.access import roles
from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from tests.helpers import ADMIN, API
from tests.transfers.share_world import homes
from tests.web.test_pages import _signed_in


def test_share_and_unshare_from_the_pages(
    ctx: Context, client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    homes()
    token = _signed_in(client, "member")
    r = client.post(
        "/projects/HOME/sessions/E1/shares",
        data={"into": "THERE", "label": "Visit1", "csrf_token": token},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/projects/HOME/sessions/E1#sharing")
    home = client.get("/projects/HOME/sessions/E1").text
    assert 'href="/projects/THERE">THERE</a></td><td>Visit1</td>' in home
    # Through THERE: under its label there, marked, read-only (no note form).
    there = client.get("/projects/THERE/sessions/Visit1")
    assert there.status_code == 200, there.text
    assert "shared from HOME" in there.text and "Shared from project" in there.text
    assert 'action="/projects/THERE/sessions/Visit1/note"' not in there.text
    assert 'action="/projects/HOME/sessions/E1/note"' in home
    sessions_tab = client.get("/projects/THERE?tab=sessions").text
    assert 'href="/projects/THERE/sessions/Visit1">Visit1</a> <span class="badge">' in sessions_tab
    subjects_tab = client.get("/projects/THERE?tab=subjects").text
    assert "shared from HOME" in subjects_tab
    subject = client.get("/projects/THERE/subjects/S1").text
    assert 'href="/projects/THERE/sessions/Visit1"' in subject
    # A taken label is told on the page; nothing is shared.
    client.post(f"{API}/projects/THERE/subjects", json={"label": "S2"}, auth=ADMIN)
    client.post(f"{API}/projects/HOME/subjects", json={"label": "S2"}, auth=ADMIN)
    r = client.post(
        "/projects/HOME/subjects/S2/shares",
        data={"into": "THERE", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "already exists" in client.get(r.headers["location"]).text
    # Unshare the subject: its session goes with it.
    r = client.post(
        "/projects/HOME/subjects/S1/shares/THERE/remove",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert client.get("/projects/THERE/sessions/Visit1").status_code == 404
    assert client.get(f"{API}/projects/THERE/shares", auth=ADMIN).json() == []


def test_a_collaborator_there_may_not_unshare(
    ctx: Context, client: TestClient, actors: dict[str, Any], homes: Any
) -> None:
    homes()
    assert (
        client.put(f"{API}/projects/HOME/subjects/S1/shares/THERE", auth=ADMIN).status_code == 200
    )
    roles.remove_role(ctx, SYSTEM, "HOME", "collaborator")
    token = _signed_in(client, "collaborator")
    r = client.post(
        "/projects/HOME/subjects/S1/shares/THERE/remove",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 404  # HOME is not theirs to know
    assert len(client.get(f"{API}/projects/THERE/shares", auth=ADMIN).json()) == 1


__all__ = ["homes"]  # the fixture the tests take
