"""Clinical records on the far XNAT subject, against a small HTTP server that answers as
an XNAT does: the file is PUT in the subject's CLINICAL resource, named by the labels
the images went under; a file already there (409) is put again with overwrite=true; a
refusal fails the push with the peer's reason, the images all the same."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from pydicom import dcmread

from scandepot.access.actors import SYSTEM
from scandepot.catalog.pipelines import JobStatus
from scandepot.clinical import records
from scandepot.clinical.records import Target
from scandepot.push import follow
from scandepot.push.requests import PushRequest, request_push
from tests.clinical.world import set_schemas
from tests.push.conftest import Peer, World, run_pushes, use_peer
from tests.push.peers import Answer, http_peer

Calls = list[tuple[str, str, dict[str, list[str]], bytes]]


def _push(world: World, monkeypatch: pytest.MonkeyPatch, url: str) -> tuple[int, Peer]:
    set_schemas(world.ctx, world.project)
    records.put(world.ctx, SYSTEM, Target(world.project, "S1"), {"diagnosis": "AD"})
    world.destination(kind="xnat", url=f"{url}/xnat", remote_project="FAR", clinical="xnat")
    peer = Peer()
    use_peer(monkeypatch, peer)
    asked = PushRequest(destination="node", sessions=["E1"])
    return request_push(world.ctx, world.actor(), world.project, asked).id, peer


def _recorder(calls: Calls, *statuses: int) -> Answer:
    def answer(
        method: str, path: str, _h: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        calls.append((method, parts.path, parse_qs(parts.query), body))
        status = statuses[min(len(calls), len(statuses)) - 1]
        return status, {"Content-Type": "text/plain"}, f"answered {status}".encode()

    return answer


def test_a_file_already_there_is_put_again_with_overwrite(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Calls = []
    with http_peer(_recorder(calls, 409, 200)) as server:
        push_id, peer = _push(world, monkeypatch, server.url)
        assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    subject = str(dcmread(io.BytesIO(peer.received[0].data)).PatientID)
    assert subject == peer.received[0].subject  # the label the session was filed under
    path = f"/xnat/data/projects/FAR/subjects/{subject}/resources/CLINICAL/files/clinical.json"
    assert [(m, p) for m, p, _q, _b in calls] == [("PUT", path), ("PUT", path)]
    first, second = calls[0][2], calls[1][2]
    assert first["inbody"] == ["true"] and "overwrite" not in first
    assert second["overwrite"] == ["true"] and second["inbody"] == ["true"]
    body = json.loads(calls[1][3])
    assert body == {"patient_id": subject, "values": {"diagnosis": "AD"}, "schema_version": 1}
    report = follow.get(world.ctx, world.actor(), push_id).push.report
    assert report["clinical"] == {"subjects": 1, "sent": 1, "failed": []}


def test_a_refused_record_fails_the_push_with_the_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: Calls = []
    with http_peer(_recorder(calls, 403)) as server:
        push_id, _peer = _push(world, monkeypatch, server.url)
        assert run_pushes(world.ctx) == [JobStatus.FAILED]
    assert len(calls) == 1  # a refusal is not tried again
    view = follow.get(world.ctx, world.actor(), push_id)
    [failed] = view.push.report["clinical"]["failed"]
    assert "403" in failed["reason"] and "answered 403" in failed["reason"]
    assert view.push.report["counts"]["verified"] == 6
