"""Pushes in the pages, without a browser: Push… among the ticked sessions' buttons, the
form offering the destinations that take the project, the push's page while it waits and
once it is verified, the project's list, and a refusal sent back to the form."""

from __future__ import annotations

import pytest

from scandepot.catalog.pipelines import JobStatus
from tests.push.conftest import Peer, World, run_pushes, use_peer
from tests.web.test_pages import _signed_in


def test_a_push_from_the_pages(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.destination(description="the central node")
    world.destination("elsewhere", allowed=False)
    use_peer(monkeypatch, Peer())
    client, project = world.client, world.project
    token = _signed_in(client, "collaborator")
    page = client.get(f"/projects/{project}").text
    assert 'formaction="/pushes/new">Push…' in page and f'href="/pushes?project={project}"' in page

    form = client.get(f"/pushes/new?source={project}&sessions=E1").text
    assert '<option value="node">node (dicomweb, external): the central node' in form
    assert "elsewhere" not in form and 'name="sessions" value="E1" checked' in form

    fields = {"project": project, "destination": "node", "csrf_token": token}
    refused = client.post("/pushes", data={**fields, "sessions": "E9"}, follow_redirects=False)
    assert refused.status_code == 404 and "E9" in refused.text
    started = client.post("/pushes", data={**fields, "sessions": "E1"}, follow_redirects=False)
    assert started.status_code == 303 and started.headers["location"] == "/pushes/1"
    waiting = client.get("/pushes/1").text
    assert "Push 1 is queued." in waiting and 'http-equiv="refresh"' in waiting
    assert "0 of 6 instances" in waiting and "Cancel" in waiting

    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    done = client.get("/pushes/1").text
    assert "6 of 6 instances" in done and "verified 6" in done and "refresh" not in done
    assert "6 of 6 instance(s) verified on the far side (6 sent, 0 already there)." in done
    listed = client.get(f"/pushes?project={project}").text
    assert 'href="/pushes/1"' in listed and "6 of 6" in listed and "E1" in listed
