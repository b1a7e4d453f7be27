"""The pushes of /api/v1/projects/{project}/pushes: start, list, follow with progress and
report, instances page by page, cancel; refusals with their codes."""

from __future__ import annotations

import pytest

from scandepot.catalog.deid import DeidScript
from tests.helpers import API
from tests.push.conftest import Peer, World, run_pushes, use_peer


def _url(world: World, tail: str = "") -> str:
    return f"{API}/projects/{world.project}/pushes{tail}"


def test_a_push_is_started_followed_and_reported(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.destination()
    peer = Peer()
    use_peer(monkeypatch, peer)
    owner = world.actors["owner"]
    r = world.client.post(_url(world), json={"destination": "node", "sessions": ["E1"]}, auth=owner)
    assert r.status_code == 202, r.text
    body = r.json()
    assert r.headers["location"] == body["url"] == _url(world, f"/{body['id']}")
    assert body["status"] == "queued" and body["progress"] == {"total": 6, "done": 0, "pending": 6}
    assert run_pushes(world.ctx)[0].value == "succeeded"

    got = world.client.get(body["url"], auth=world.actors["collaborator"]).json()
    assert got["status"] == "succeeded" and got["finished"]
    assert got["progress"]["verified"] == 6 and got["report"]["counts"]["verified"] == 6
    assert "far_labels" not in got["report"]
    listed = world.client.get(_url(world), auth=owner).json()
    assert [p["id"] for p in listed["items"]] == [body["id"]] and listed["total"] == 1
    page = world.client.get(
        f"{body['url']}/instances", params={"limit": 4, "status": "verified"}, auth=owner
    ).json()
    assert page["total"] == 6 and len(page["items"]) == 4
    assert {i["sop_uid"] for i in page["items"]} <= set(peer.sends)
    again = world.client.post(f"{body['url']}/cancel", auth=owner)
    assert again.status_code == 409 and "already succeeded" in again.text


def test_refusals_say_why(world: World) -> None:
    world.destination()
    world.destination("elsewhere", allowed=False)
    owner = world.actors["owner"]

    def ask(**body: object) -> tuple[int, str]:
        r = world.client.post(_url(world), json={"destination": "node", **body}, auth=owner)
        return r.status_code, r.text

    assert ask(sessions=["E9"])[0] == 404 and "E9" in ask(sessions=["E9"])[1]
    assert ask(sessions=["E1"], destination="elsewhere")[0] == 403
    assert ask(sessions=["E1"], unknown=1)[0] == 422
    with world.ctx.db.write() as db:
        db.query(DeidScript).delete()
    code, text = ask(sessions=["E1"])
    assert code == 422 and "external" in text
    r = world.client.post(_url(world), json={"destination": "node", "sessions": ["E1"]}, auth=None)
    assert r.status_code == 401
    r = world.client.get(_url(world, "/1"), auth=world.actors["outsider"])
    assert r.status_code == 404


def test_a_queued_push_is_cancelled_by_the_api(world: World) -> None:
    world.destination()
    owner = world.actors["owner"]
    r = world.client.post(_url(world), json={"destination": "node", "sessions": ["E1"]}, auth=owner)
    url = r.json()["url"]
    other = world.client.post(f"{API}/projects/OTHER/pushes/{r.json()['id']}/cancel", auth=owner)
    assert other.status_code == 404
    done = world.client.post(f"{url}/cancel", auth=owner).json()
    assert done["status"] == "cancelled" and done["finished"]
