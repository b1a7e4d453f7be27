"""Copies and moves in the pages, without a browser: sessions ticked on a project's page,
the form, the check (problems stop it), the confirmation, the transfer's page while it
waits and once it is verified, a cancel, the list, and who may see what."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.transfers import Transfer
from scandepot.context import Context
from tests.transfers.conftest import Archive, run_transfers, two_projects
from tests.web.test_pages import _signed_in


@pytest.fixture
def world(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
) -> Archive:
    """Two projects with the same people; the destination keeps its default (its
    prearchive), as a new project's."""
    return two_projects(ctx, client, actors, make_project, tmp_path)


def _transfers(ctx: Context) -> int:
    with ctx.db.read() as db:
        return db.scalar(select(func.count(Transfer.id))) or 0


def _hidden_request(page: str) -> str:
    found = re.search(r'name="request" value="([^"]*)"', page)
    assert found is not None, page
    return html.unescape(found.group(1))


def test_sessions_ticked_checked_confirmed_and_followed(ctx: Context, world: Archive) -> None:
    world.session("S1", "E1")
    world.session("S2", "E2")
    client, source, dest = world.client, world.source, world.dest
    token = _signed_in(client, "owner")
    project = client.get(f"/projects/{source}").text
    assert 'action="/transfers/new"' in project
    assert 'name="sessions" value="E1"' in project and 'value="move">Move' in project

    form = client.get(f"/transfers/new?source={source}&kind=copy&sessions=E1&sessions=E2").text
    assert f'<option value="{dest}">' in form and f'<option value="{source}">' not in form
    assert 'name="sessions" value="E2" checked' in form

    fields = {"source": source, "destination": dest, "kind": "copy", "scans": "1"}
    mapping = b"subject,new_subject,session,new_session\nS1,SUB-A,E1,SUB-A_E1\n"
    files = {"map": ("map.csv", mapping, "text/csv")}
    data = {**fields, "sessions": ["E1", "E2"]}
    refused = client.post("/transfers/check", data=data, files=files)
    assert refused.status_code == 403 and "CSRF" in refused.text  # the form's token, or nothing
    check = client.post("/transfers/check", data={**data, "csrf_token": token}, files=files)
    assert check.status_code == 200, check.text
    assert (
        "S1/E1</td>\n  <td>SUB-A/SUB-A_E1" in check.text and "S2/E2</td>\n  <td>S2/E2" in check.text
    )
    assert "Confirm: copy 2 session(s)" in check.text and "Problems" not in check.text
    assert _transfers(ctx) == 0  # the check wrote nothing

    asked = _hidden_request(check.text)
    r = client.post(
        "/transfers", data={"request": asked, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/transfers/1"
    waiting = client.get("/transfers/1").text
    assert "Transfer 1 is queued." in waiting and 'http-equiv="refresh"' in waiting
    assert "0 of 6 files" in waiting and 'action="/transfers/1/cancel"' in waiting

    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    done = client.get("/transfers/1").text
    assert "badge-succeeded" in done and "badge-verified" in done
    assert 'http-equiv="refresh"' not in done and "/transfers/1/cancel" not in done
    assert "6 of 6 files" in done and "3 file(s), " in done and "by catalog:\n    match" in done
    assert f'href="/projects/{dest}/sessions/SUB-A_E1"' in done
    listed = client.get("/transfers").text
    assert 'href="/transfers/1"' in listed and "6 of 6" in listed


def test_a_check_with_problems_has_no_confirm_and_a_stale_one_is_refused(
    ctx: Context, world: Archive
) -> None:
    world.session("S1", "E1")
    owner = world.actors["owner"]
    fields = {"source": world.source, "destination": world.dest, "kind": "move"}
    check = world.client.post(
        "/transfers/check", data={**fields, "sessions": "E1"}, auth=world.actors["member"]
    )
    assert check.status_code == 200
    assert "1 problem(s)" in check.text and 'class="problems"' in check.text
    assert f"To move from &#39;{world.source}&#39; you must be an owner of it." in check.text
    assert "Confirm" not in check.text

    check = world.client.post("/transfers/check", data={**fields, "sessions": "E1"}, auth=owner)
    asked = _hidden_request(check.text)
    world.session("S1", "E1", project=world.dest)  # meanwhile, E1 is taken there
    r = world.client.post("/transfers", data={"request": asked}, auth=owner)
    assert r.status_code == 409
    assert "Session &#39;E1&#39; exists in" in r.text and "Confirm" not in r.text
    assert _transfers(ctx) == 0


def test_a_mistake_in_the_form_is_told_on_the_form(world: Archive) -> None:
    world.session("S1", "E1")
    fields = {"source": world.source, "destination": world.dest, "sessions": "E1"}
    bad_map = {"map": ("map.csv", b"old,new\nS1,S2\n", "text/csv")}
    r = world.client.post(
        "/transfers/check", data=fields, files=bad_map, auth=world.actors["owner"]
    )
    assert r.status_code == 200 and "The map&#39;s columns are subject" in r.text
    assert 'name="sessions" value="E1" checked' in r.text  # the form again, as chosen


def test_a_queued_transfer_is_cancelled_from_its_page(ctx: Context, world: Archive) -> None:
    world.session("S1", "E1")
    owner = world.actors["owner"]
    fields = {"source": world.source, "destination": world.dest, "sessions": "E1"}
    check = world.client.post("/transfers/check", data=fields, auth=owner)
    world.client.post("/transfers", data={"request": _hidden_request(check.text)}, auth=owner)
    r = world.client.post("/transfers/1/cancel", auth=world.actors["member"])
    assert r.status_code == 403  # a member reads it, may not cancel it
    r = world.client.post("/transfers/1/cancel", auth=owner)
    assert r.status_code == 200 and "Transfer 1 is cancelled." in r.text
    assert "badge-cancelled" in r.text and "Cancelled by owner before it started." in r.text
    assert run_transfers(ctx) == []


def test_who_sees_the_transfer_pages(ctx: Context, world: Archive) -> None:
    world.session("S1", "E1")
    client, actors = world.client, world.actors
    fields = {"source": world.source, "destination": world.dest, "sessions": "E1"}
    check = client.post("/transfers/check", data=fields, auth=actors["member"])
    client.post("/transfers", data={"request": _hidden_request(check.text)}, auth=actors["member"])
    r = client.get("/transfers/1", auth=None, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert client.get("/transfers/1", auth=actors["outsider"]).status_code == 404
    assert client.get("/transfers/1", auth=actors["collaborator"]).status_code == 200
    assert 'href="/transfers/1"' not in client.get("/transfers", auth=actors["outsider"]).text
    form = client.get(f"/transfers/new?source={world.source}", auth=actors["outsider"])
    assert form.status_code == 404
    project = client.get(f"/projects/{world.source}", auth=actors["collaborator"]).text
    assert 'value="copy">Copy' in project  # a reader may copy into a project of its own


def test_ticked_sessions_shared_from_the_project_page(world: Archive) -> None:
    world.session("S1", "E1")
    world.session("S2", "E2")
    owner = world.actors["owner"]
    form = world.client.get(
        f"/shares/new?source={world.source}&sessions=E1&sessions=E2", auth=owner
    )
    assert form.status_code == 200 and 'name="label_E1" value="E1"' in form.text
    assert f'<option value="{world.dest}">' in form.text
    fields = {
        "source": world.source,
        "into": world.dest,
        "sessions": ["E1", "E2"],
        "label_E1": "Visit1",
        "label_E2": "bad label!",
    }
    done = world.client.post("/shares", data=fields, auth=owner)
    assert done.status_code == 200
    assert f'shared into <a href="/projects/{world.dest}/sessions/Visit1">' in done.text
    assert "refused" in done.text and "label must be" in done.text
    listed = world.client.get(
        f"/api/v1/projects/{world.dest}/sessions", auth=world.actors["collaborator"]
    ).json()
    assert [s["label"] for s in listed["items"]] == ["Visit1"]
    page = world.client.get(f"/projects/{world.source}?tab=sessions", auth=owner)
    assert 'formaction="/shares/new"' in page.text
