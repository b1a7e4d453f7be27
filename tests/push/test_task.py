"""A push's job against an in-test peer: what it sends, the retries and back-off, resume
without sending twice, the final check, the report and the audit record. The real peers
(Orthanc by STOW-RS and C-STORE) are in test_push_orthanc.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.catalog.access import AuditEvent
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.catalog.push import InstanceStatus, Push, PushInstance
from scandepot.export.deidentified import Deidentifier
from scandepot.push import deliver, follow
from scandepot.push.requests import PushRequest, request_push
from tests.push.conftest import PATIENT, Peer, World, run_pushes, use_peer


def _push(world: World, **fields: Any) -> Push:
    asked = {"destination": "node", "sessions": ["E1"], **fields}
    return request_push(world.ctx, world.actor(), world.project, PushRequest(**asked))


def _rows(world: World, push: Push) -> list[PushInstance]:
    with world.ctx.db.read() as db:
        return list(
            db.scalars(
                select(PushInstance)
                .where(PushInstance.push_id == push.id)
                .order_by(PushInstance.id)
            )
        )


def _view(world: World, push: Push) -> follow.PushView:
    return follow.get(world.ctx, world.actor(), push.id)


@pytest.fixture
def peer(world: World, monkeypatch: pytest.MonkeyPatch) -> Peer:
    world.destination()
    found = Peer()
    use_peer(monkeypatch, found)
    return found


def test_every_instance_is_sent_once_de_identified_and_verified(world: World, peer: Peer) -> None:
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    rows = _rows(world, push)
    assert {r.status for r in rows} == {InstanceStatus.VERIFIED.value}
    assert sorted(peer.sends) == sorted(r.sop_uid for r in rows) and set(peer.sends.values()) == {1}
    study = world.studies["E1"]
    for out in peer.received:
        assert out.study_uid != study.StudyInstanceUID
        assert PATIENT["PatientID"].encode() not in out.data
        assert b"Smith" not in out.data
    view = _view(world, push)
    report = view.push.report
    assert view.status == "succeeded" and view.progress()["done"] == 6
    assert report["counts"]["verified"] == 6 and report["counts"]["sent_by_push"] == 6
    assert report["failed"] == [] and report["script"].startswith("export v1")
    assert report["runs"][-1]["sent"] == 6 and "send_s" in report["runs"][-1]
    assert "6 of 6 instance(s) verified" in view.message
    with world.ctx.db.read() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "push.finished")).one()
    assert event.detail["verified"] == 6 and event.detail["status"] == "succeeded"


def test_a_destination_down_at_the_start_is_tried_again(world: World, peer: Peer) -> None:
    peer.down = 2
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    assert peer.checks == 3 and len(peer.sends) == 6
    with world.ctx.db.read() as db:
        log = db.get(Job, push.job_id).log  # type: ignore[union-attr]
    assert log.count("could not be reached (connection refused); trying again") == 2


def test_a_destination_that_stays_down_fails_the_push_with_the_reason(
    world: World, peer: Peer
) -> None:
    peer.down = 100
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.FAILED]
    view = _view(world, push)
    assert view.status == "failed" and "could not be reached after 4 attempt(s)" in view.message
    assert "connection refused" in view.message and peer.sends == {}


def test_temporary_errors_are_retried_and_refusals_fail_with_the_peer_s_reason(
    world: World, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    real = deliver.pause
    monkeypatch.setattr(deliver, "pause", lambda job, s: (waits.append(s), real(job, s)))
    first = Peer()
    use_peer(monkeypatch, first)
    _push(world)
    run_pushes(world.ctx)  # to learn the outgoing UIDs: the same for the same script
    sops = sorted(first.sends)
    peer.busy = {sops[0]: 2, sops[1]: 1}
    peer.refuse = {sops[2]: "0xA900 dataset does not match SOP class"}
    peer.down_sends = 1
    use_peer(monkeypatch, peer)
    waits.clear()
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.FAILED]
    by_sop = {r.sop_uid: r for r in _rows(world, push)}
    # One try lost to the connection reset, two to "try later"; stored on the fourth.
    assert by_sop[sops[0]].status == "verified" and by_sop[sops[0]].attempts == 3
    assert by_sop[sops[2]].status == "failed" and "0xA900" in by_sop[sops[2]].reason
    assert set(peer.sends.values()) == {1} and len(peer.sends) == 5
    assert waits == [0.05, 0.1, 0.2]  # the back-off doubles
    view = _view(world, push)
    assert [f["sop_uid"] for f in view.push.report["failed"]] == [sops[2]]
    assert view.push.report["failed"][0]["session"] == "E1"
    assert "5 of 6 instance(s) verified" in view.message and "1 failed" in view.message


def test_an_instance_still_refused_for_now_after_its_attempts_fails(
    world: World, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Peer()
    use_peer(monkeypatch, first)
    _push(world)
    run_pushes(world.ctx)
    sop = sorted(first.sends)[0]
    peer.busy = {sop: 100}
    use_peer(monkeypatch, peer)
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.FAILED]
    row = next(r for r in _rows(world, push) if r.sop_uid == sop)
    assert row.status == "failed" and row.attempts == 4
    assert row.reason == "gave up after 4 attempt(s): 503 Service Unavailable"


def test_a_resumed_push_sends_nothing_the_far_side_holds(
    world: World, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after its second batch reached the far side and before its outcome was
    committed: claimed again, it asks the far side and sends only the rest."""
    monkeypatch.setattr(deliver, "BATCH", 2)
    world.destination("single", concurrency=1)

    class Killed(BaseException):
        pass

    def kill(received: int) -> None:
        if received == 4:  # the process dies: nothing after this is sent or committed
            peer.dead = Killed()
            raise peer.dead

    peer.after_send = kill
    push = _push(world, destination="single")
    with pytest.raises(Killed):
        run_pushes(world.ctx)
    assert len(peer.sends) == 4
    statuses = [r.status for r in _rows(world, push)]
    assert statuses.count("sent") == 2 and statuses.count("pending") == 4
    with world.ctx.db.write() as db:  # as requeue_stale does with a silent runner
        job = db.get(Job, push.job_id)
        assert job is not None
        job.status, job.claim = JobStatus.QUEUED.value, None
    peer.after_send, peer.dead = lambda _n: None, None
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    assert len(peer.sends) == 6 and set(peer.sends.values()) == {1}
    counts = _view(world, push).push.report["counts"]
    assert counts["verified"] == 6 and counts["sent_by_push"] == 4
    assert counts["already_there"] == 2


def test_what_the_far_side_lost_fails_the_final_check(
    world: World, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = Peer()
    use_peer(monkeypatch, first)
    _push(world)
    run_pushes(world.ctx)
    lost = sorted(first.sends)[3]
    peer.lose = {lost}
    use_peer(monkeypatch, peer)
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.FAILED]
    row = next(r for r in _rows(world, push) if r.sop_uid == lost)
    assert row.status == "failed" and row.reason == "not found on the far side after sending"


def test_instances_the_script_refuses_are_listed_and_the_push_succeeds(
    world: World, peer: Peer
) -> None:
    world.session("S2", "E2", PatientID="P2")
    push = _push(world, sessions=["E2"])
    _burn_in(world, push)
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    view = _view(world, push)
    assert view.counts == {"verified": 5, "refused": 1}
    refused = view.push.report["refused"]
    assert len(refused) == 1 and refused[0]["reason"].startswith("burned_in:")
    assert len(peer.sends) == 5


def _burn_in(world: World, push: Push) -> None:
    """Mark one instance of the push as showing burned-in annotation, in its stored file."""
    from pydicom import dcmread

    from scandepot.push import outgoing

    item = outgoing.pending(world.ctx, push.id)[0]
    ds = dcmread(item.path)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(item.path, enforce_file_format=True)


def test_a_running_push_stops_at_a_cancel(
    world: World, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deliver, "BATCH", 1)
    world.destination("single", concurrency=1)
    push = _push(world, destination="single")

    def cancel(received: int) -> None:
        if received == 2:
            follow.cancel(world.ctx, world.actor(), push.id)
            with world.ctx.db.read() as db:
                assert db.get(Job, push.job_id).cancel_requested  # type: ignore[union-attr]
            time.sleep(0.5)  # ten heartbeats: the job has heard of it before its next batch

    peer.after_send = cancel
    world.ctx.settings.pipeline_heartbeat_s = 0.05
    assert run_pushes(world.ctx) == [JobStatus.CANCELLED]
    view = _view(world, push)
    assert view.status == "cancelled" and len(peer.sends) < 6
    assert view.counts.get("pending", 0) >= 1


def test_an_engine_failure_fails_that_instance_without_its_values(
    world: World, peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error inside de-identification fails that instance, named by its kind (its text
    may quote the values it met); the others go, and the push does not succeed."""
    real = Deidentifier.run
    calls: list[int] = []

    def run(self: Deidentifier, raw: bytes, **labels: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError(f"cannot encode {PATIENT['PatientName']}")
        return real(self, raw, **labels)

    monkeypatch.setattr(Deidentifier, "run", run)
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.FAILED]
    rows = _rows(world, push)
    failed = [r for r in rows if r.status == InstanceStatus.FAILED.value]
    assert len(failed) == 1 and failed[0].reason == (
        "unreadable: De-identification failed (RuntimeError)."
    )
    assert len(peer.sends) == 5
    view = _view(world, push)
    assert "Smith" not in view.message and "Smith" not in str(view.push.report)
