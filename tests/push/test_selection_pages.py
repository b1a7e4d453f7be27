"""Saved selections in the pages, without a browser: saved from the sessions ticked on the
project's page, added to, listed with their sessions, pushed through the push form, changed
and deleted; a name taken sent back to the form."""

from __future__ import annotations

from sqlalchemy import select

from scandepot.catalog.archive import Session
from scandepot.push import follow
from tests.push.conftest import World
from tests.web.test_pages import _signed_in


def test_a_selection_from_the_pages(world: World) -> None:
    world.session("S1", "E2")
    world.destination()
    client, project = world.client, world.project
    base = f"/projects/{project}/selections"
    token = _signed_in(client, "member")
    page = client.get(f"/projects/{project}?tab=sessions").text
    assert f'formaction="/projects/{project}/selections/new">Save as selection…' in page
    form = client.get(f"{base}/new?source={project}&sessions=E1").text
    assert 'name="sessions" value="E1" checked' in form and 'name="into"' not in form

    fields = {"csrf_token": token, "sessions": "E1"}
    saved = client.post(base, data={**fields, "name": "batch"}, follow_redirects=False)
    assert (saved.status_code, saved.headers["location"]) == (303, f"{base}#sel-batch")
    taken = client.post(base, data={**fields, "name": "Batch"}, follow_redirects=False)
    assert taken.status_code == 303 and taken.headers["location"] == f"{base}/new?sessions=E1"
    assert "already exists" in client.get(taken.headers["location"]).text
    assert 'name="into"' in client.get(f"{base}/new?sessions=E2").text
    added = client.post(base, data={**fields, "sessions": "E2", "into": "batch"})
    assert "Selection batch holds 2 session(s)." in added.text
    listed = client.get(base).text
    assert f'href="/projects/{project}/sessions/E2">E2' in listed
    assert f'href="/pushes/new?source={project}&amp;selection=batch">Push…' in listed

    offered = client.get(f"/pushes/new?source={project}&selection=batch").text
    assert '<option value="batch" selected>batch</option>' in offered
    pushed = client.post(
        "/pushes",
        data={"csrf_token": token, "project": project, "destination": "node", "selection": "batch"},
        follow_redirects=False,
    )
    assert pushed.status_code == 303, pushed.text
    assert follow.get(world.ctx, world.actor(), 1).push.request["sessions"] == ["E1", "E2"]

    with world.ctx.db.read() as db:
        e1 = db.scalar(select(Session.stable_id).where(Session.label == "E1"))
    assert e1 is not None
    changed = client.post(
        f"{base}/batch",
        data={"csrf_token": token, "remove": e1, "name": "week1", "description": "first"},
    )
    assert "Selection week1 is saved." in changed.text and "first" in changed.text
    assert "sessions/E1" not in changed.text and "sessions/E2" in changed.text
    refused = client.post(f"{base}/week1/delete", data={"csrf_token": token})
    assert refused.status_code == 403  # owners delete, as every delete in a project
    token = _signed_in(client, "owner")
    deleted = client.post(f"{base}/week1/delete", data={"csrf_token": token})
    assert "Selection week1 is deleted; its sessions stay." in deleted.text
    assert "No selection in" in deleted.text
