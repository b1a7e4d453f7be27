"""Clinical records along with a push, to a small HTTP server of the test's own as the
clinical-data endpoint: it answers 503, then stops answering (a timeout), then takes the
record; what it gets is keyed by the Patient ID the pushed images carry and holds nothing
identifying. An endpoint that refuses a record fails the push, saying why."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Sequence

import pytest
from pydicom import dcmread
from sqlalchemy import update

from scandepot.access.actors import SYSTEM
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.clinical import records
from scandepot.clinical.records import Target
from scandepot.push import follow
from scandepot.push.requests import PushRequest, request_push
from scandepot.push.sending import Outgoing, Sent
from tests.clinical.world import set_schemas
from tests.push.conftest import Peer, World, run_pushes, use_peer
from tests.push.peers import http_peer

NOTES = "Jane Doe, referred by Dr Who"


def _world(world: World, monkeypatch: pytest.MonkeyPatch, url: str) -> Peer:
    set_schemas(world.ctx, world.project)
    records.put(
        world.ctx, SYSTEM, Target(world.project, "S1"), {"diagnosis": "MCI", "notes": NOTES}
    )
    records.put(world.ctx, SYSTEM, Target(world.project, session="E1"), {"mmse": 27})
    world.destination(clinical="rest", clinical_url=f"{url}/clinical")
    world.ctx.settings.push_timeout_s = 0.5
    peer = Peer()
    use_peer(monkeypatch, peer)
    return peer


def _push(world: World) -> int:
    asked = PushRequest(destination="node", sessions=["E1"])
    return request_push(world.ctx, world.actor(), world.project, asked).id


def test_records_go_along_after_a_503_and_a_timeout(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str, bytes]] = []
    release = threading.Event()

    def answer(
        method: str, path: str, _h: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        calls.append((method, path, body))
        if len(calls) == 1:
            return 503, {}, b"busy"
        if len(calls) == 2:
            release.wait(5)  # longer than the client waits: a timeout
            return 200, {}, b""
        return 204, {}, b""

    with http_peer(answer) as server:
        peer = _world(world, monkeypatch, server.url)
        push_id = _push(world)
        assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
        release.set()
    view = follow.get(world.ctx, world.actor(), push_id)
    assert view.push.report["clinical"] == {"subjects": 1, "sent": 1, "failed": []}
    assert "clinical records: 1 of 1 sent" in view.message
    sent_id = str(dcmread(io.BytesIO(peer.received[0].data)).PatientID)
    assert len(calls) == 3 and {m for m, _p, _b in calls} == {"PUT"}
    assert calls[-1][1] == f"/clinical/{sent_id}"
    body = json.loads(calls[-1][2])
    assert body["patient_id"] == sent_id and sent_id != "MRN123"
    assert body["values"]["diagnosis"] == "MCI" and "notes" not in body["values"]
    assert body["sessions"][0]["values"] == {"mmse": 27}
    assert NOTES.encode() not in calls[-1][2] and b"MRN123" not in calls[-1][2]


def test_a_record_refused_fails_the_push_with_the_reason(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def answer(*_args: object) -> tuple[int, dict[str, str], bytes]:
        return 422, {"Content-Type": "text/plain"}, b"unknown variable diagnosis"

    with http_peer(answer) as server:
        _world(world, monkeypatch, server.url)
        push_id = _push(world)
        started = time.monotonic()
        assert run_pushes(world.ctx) == [JobStatus.FAILED]
        assert time.monotonic() - started < 20
    view = follow.get(world.ctx, world.actor(), push_id)
    failed = view.push.report["clinical"]["failed"]
    assert len(failed) == 1 and "422" in failed[0]["reason"]
    assert "unknown variable diagnosis" in failed[0]["reason"]
    assert view.push.report["counts"]["verified"] == 6  # the images went all the same


def test_an_endpoint_down_long_gives_the_worker_back_and_the_record_goes_later(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def answer(
        method: str, path: str, _h: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        calls.append(path)
        return (503, {}, b"maintenance") if len(calls) == 1 else (204, {}, b"")

    with http_peer(answer) as server:
        _world(world, monkeypatch, server.url)
        world.ctx.settings.push_retry_s = 30  # the first wait is long: the job waits queued
        push_id = _push(world)
        assert run_pushes(world.ctx) == [JobStatus.QUEUED]
        waiting = follow.get(world.ctx, world.actor(), push_id)
        assert (
            waiting.status == "queued" and "1 clinical record(s) not taken yet" in waiting.message
        )
        with world.ctx.db.write() as db:  # the wait is over
            db.execute(update(Job).values(not_before=None))
        assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    view = follow.get(world.ctx, world.actor(), push_id)
    assert view.push.report["clinical"] == {"subjects": 1, "sent": 1, "failed": []}
    assert len(calls) == 2 and calls[0] == calls[1]
    assert view.push.report["counts"]["verified"] == 6


def test_no_record_goes_for_a_subject_whose_images_did_not_arrive(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def answer(
        method: str, path: str, _h: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        calls.append(path)
        return 204, {}, b""

    class RefusesAll(Peer):
        def send(self, batch: Sequence[Outgoing]) -> list[Sent]:
            return [Sent(o.sop_uid, False, False, "C-STORE status 0xA900") for o in batch]

    with http_peer(answer) as server:
        _world(world, monkeypatch, server.url)
        use_peer(monkeypatch, RefusesAll())
        push_id = _push(world)
        assert run_pushes(world.ctx) == [JobStatus.FAILED]
    view = follow.get(world.ctx, world.actor(), push_id)
    assert calls == [] and view.push.report["counts"]["failed"] == 6
    assert view.push.report["clinical"]["subjects"] == 0
