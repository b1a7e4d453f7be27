"""A push that must wait long for its destination gives its worker back: its job goes back
to the queue with a ``not_before`` time (pipelines.jobrun.Later), and goes on where it was
when that time comes, its tries counted across the waits."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.catalog.push import Push
from scandepot.db.base import utcnow
from scandepot.push import follow
from scandepot.push.requests import PushRequest, request_push
from tests.push.conftest import Peer, World, run_pushes, use_peer


@pytest.fixture
def peer(world: World, monkeypatch: pytest.MonkeyPatch) -> Peer:
    world.ctx.settings.push_retry_s = 30  # the first wait is long enough to give back
    world.destination(max_attempts=3)
    found = Peer()
    use_peer(monkeypatch, found)
    return found


def _push(world: World) -> Push:
    asked: dict[str, Any] = {"destination": "node", "sessions": ["E1"]}
    return request_push(world.ctx, world.actor(), world.project, PushRequest(**asked))


def _job(world: World, push: Push) -> Job:
    with world.ctx.db.read() as db:
        job = db.get(Job, push.job_id)
        assert job is not None
        db.expunge(job)
        return job


def _time_passes(world: World, push: Push) -> None:
    with world.ctx.db.write() as db:
        db.execute(
            update(Job)
            .where(Job.id == push.job_id)
            .values(not_before=utcnow() - dt.timedelta(seconds=1))
        )


def _waits_for(world: World, push: Push) -> float:
    job = _job(world, push)
    assert job.status == JobStatus.QUEUED.value and job.claim is None
    assert job.not_before is not None and job.message.startswith("Waiting until ")
    return (job.not_before - utcnow()).total_seconds()


def test_a_destination_down_gives_the_worker_back_and_the_push_goes_on_later(
    world: World, peer: Peer
) -> None:
    peer.down = 1
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.QUEUED]  # not failed, not running
    assert 25 < _waits_for(world, push) <= 30
    assert _job(world, push).attempts == 0  # a wait is not an interruption
    view = follow.get(world.ctx, world.actor(), push.id)
    assert view.status == "queued" and "Waiting until" in view.message
    assert peer.checks == 1 and peer.sends == {}
    assert run_pushes(world.ctx) == []  # nothing to take before the time
    _time_passes(world, push)
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    assert peer.checks == 2 and len(peer.sends) == 6 and set(peer.sends.values()) == {1}
    assert follow.get(world.ctx, world.actor(), push.id).status == "succeeded"


def test_the_tries_are_counted_across_the_waits(world: World, peer: Peer) -> None:
    peer.down = 100
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.QUEUED]
    assert 25 < _waits_for(world, push) <= 30
    _time_passes(world, push)
    assert run_pushes(world.ctx) == [JobStatus.QUEUED]
    assert 55 < _waits_for(world, push) <= 60  # doubled: the count went on
    _time_passes(world, push)
    assert run_pushes(world.ctx) == [JobStatus.FAILED]
    view = follow.get(world.ctx, world.actor(), push.id)
    assert "could not be reached after 3 attempt(s): connection refused" in view.message
    assert peer.checks == 3 and peer.sends == {}


def test_instances_refused_for_now_wait_without_holding_the_worker(
    world: World, peer: Peer
) -> None:
    peer.down_sends = 1  # the one batch of the study: "connection reset"
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.QUEUED]
    assert 25 < _waits_for(world, push) <= 30
    assert "6 instance(s) not sent yet" in _job(world, push).message
    _time_passes(world, push)
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    assert len(peer.sends) == 6 and set(peer.sends.values()) == {1}


def test_a_push_waiting_to_try_again_is_cancelled_at_once(world: World, peer: Peer) -> None:
    peer.down = 1
    push = _push(world)
    assert run_pushes(world.ctx) == [JobStatus.QUEUED]
    view = follow.cancel(world.ctx, world.actor(), push.id)
    assert view.status == "cancelled" and "while it waited to try again" in view.message
    assert _job(world, push).status == JobStatus.CANCELLED.value
    _time_passes(world, push)
    assert run_pushes(world.ctx) == [] and peer.sends == {}
