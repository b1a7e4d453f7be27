"""Asking for a push: what is refused (and why), what is recorded, and the queue of one
destination's pushes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from scandepot.catalog.access import AuditEvent
from scandepot.catalog.deid import DeidScript
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.push import InstanceStatus, Push, PushInstance, PushStatus
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound
from scandepot.push import follow
from scandepot.push.requests import PushRequest, request_push
from tests.push.conftest import Peer, World, run_pushes, use_peer


def _ask(world: World, who: str = "owner", **fields: object) -> Push:
    asked = {"destination": "node", "sessions": ["E1"], **fields}
    return request_push(world.ctx, world.actor(who), world.project, PushRequest(**asked))


def test_a_push_records_every_archived_instance_and_queues_one_job(world: World) -> None:
    world.destination()
    push = _ask(world, who="collaborator")  # whoever may download de-identified may push
    with world.ctx.db.read() as db:
        rows = db.scalars(select(PushInstance).where(PushInstance.push_id == push.id)).all()
        held = db.scalar(select(func.count(Instance.id)).where(Instance.file_id.is_not(None)))
        job = db.get(Job, push.job_id)
        event = db.scalars(select(AuditEvent).where(AuditEvent.action == "push.started")).one()
    assert len(rows) == held == push.instances_total == 6
    assert {r.status for r in rows} == {InstanceStatus.PENDING.value}
    assert push.status == PushStatus.QUEUED.value
    assert push.script.startswith("export v1 sha256:")
    assert job is not None and job.pipeline == "push" and job.parameters["push"] == push.id
    assert event.target == f"push {push.id}" and event.detail["instances"] == 6


def test_what_cannot_go_is_refused_with_the_reason(world: World) -> None:
    world.destination()
    world.destination("elsewhere", allowed=False)
    world.destination("off", enabled=False)
    with pytest.raises(NotFound, match="Session\\(s\\) not found.*E9"):
        _ask(world, sessions=["E1", "E9"])
    with pytest.raises(NotFound, match="Subject 'S9' not found"):
        _ask(world, sessions=[], subjects=["S9"])
    with pytest.raises(Invalid, match="at least one session"):
        _ask(world, sessions=[])
    with pytest.raises(NotFound, match="destination 'nowhere' not found"):
        _ask(world, destination="nowhere")
    with pytest.raises(Forbidden, match="may not push to 'elsewhere'"):
        _ask(world, destination="elsewhere")
    with pytest.raises(Conflict, match="turned off"):
        _ask(world, destination="off")
    with pytest.raises(NotFound, match="not found"):
        _ask(world, who="outsider")
    with world.ctx.db.read() as db:
        assert db.scalar(select(func.count(Push.id))) == 0


def test_an_external_destination_without_a_script_is_refused(world: World) -> None:
    world.destination()
    world.destination("internal", external=False)
    with world.ctx.db.write() as db:
        for row in db.scalars(select(DeidScript)):
            row.enabled = False
    with pytest.raises(Invalid, match="external and takes only de-identified"):
        _ask(world)
    push = _ask(world, destination="internal")  # a node of the site takes them as stored
    assert push.script == ""


def test_the_destination_s_own_script_comes_before_the_project_s(world: World) -> None:
    world.destination(script_kind="profile", script_text='{"options": ["RetainUIDs"]}')
    push = _ask(world)
    assert push.script.startswith("destination v0 sha256:")


def test_subjects_choose_their_sessions(world: World) -> None:
    world.session("S1", "E2")
    world.session("S2", "E3", PatientID="OTHER")
    world.destination()
    push = _ask(world, sessions=[], subjects=["s1"])
    assert push.request["sessions"] == ["E1", "E2"] and push.instances_total == 12


def test_one_destination_s_pushes_run_one_after_the_other_however_each_ends(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.destination()
    peer = Peer()
    use_peer(monkeypatch, peer)
    first, second = _ask(world), _ask(world)
    with world.ctx.db.read() as db:
        assert db.get(Job, second.job_id).after_job_id == first.job_id  # type: ignore[union-attr]
    peer.down = 100  # the first fails: the destination never answers
    assert run_pushes(world.ctx, limit=1) == [JobStatus.FAILED]
    peer.down = 0
    assert run_pushes(world.ctx) == [JobStatus.SUCCEEDED]
    assert follow.get(world.ctx, world.actor(), second.id).status == "succeeded"


def test_a_queued_push_is_cancelled_at_once(world: World) -> None:
    world.destination()
    push = _ask(world, who="collaborator")
    with pytest.raises(Forbidden):
        follow.cancel(world.ctx, world.actor("member"), push.id)
    view = follow.cancel(world.ctx, world.actor("collaborator"), push.id)  # its requester
    assert view.status == "cancelled" and "Cancelled by collaborator" in view.message
    with pytest.raises(Conflict, match="already cancelled"):
        follow.cancel(world.ctx, world.actor(), push.id)
    assert run_pushes(world.ctx) == []


def test_a_saved_selection_adds_its_sessions_to_those_named(world: World) -> None:
    from scandepot.archive import selections
    from scandepot.archive.selections import SelectionCreate

    world.session("S1", "E2")
    world.session("S2", "E3", PatientID="OTHER")
    world.destination()
    member = world.actor("member")
    selections.create(
        world.ctx, member, world.project, SelectionCreate(name="batch", sessions=["E2", "E3"])
    )
    push = _ask(world, who="collaborator", selection="BATCH")  # names ignore case
    assert push.request["sessions"] == ["E1", "E2", "E3"] and push.instances_total == 18
    assert push.request["selection"] == "BATCH"
    only = _ask(world, sessions=[], subjects=["S2"], selection="batch")
    assert only.request["sessions"] == ["E2", "E3"]
    with world.ctx.db.read() as db:
        events = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "push.started").order_by(AuditEvent.id)
        ).all()
    assert [e.detail.get("selection") for e in events] == ["BATCH", "batch"]
    with pytest.raises(NotFound, match="Selection 'nope' not found"):
        _ask(world, selection="nope")
    selections.create(world.ctx, member, world.project, SelectionCreate(name="empty"))
    with pytest.raises(Invalid, match="Selection 'empty' holds no session"):
        _ask(world, sessions=[], selection="empty")
    with world.ctx.db.read() as db:
        assert db.scalar(select(func.count(Push.id))) == 2


def test_letting_burned_in_instances_out_is_in_the_audit_log(world: World) -> None:
    world.destination(clinical="rest", clinical_url="http://127.0.0.1:9/clinical")
    plain = _ask(world)
    allowed = _ask(world, allow_burned_in=True)
    with world.ctx.db.read() as db:
        events = {
            e.target: e.detail
            for e in db.scalars(select(AuditEvent).where(AuditEvent.action == "push.started"))
        }
    assert "allow_burned_in" not in events[f"push {plain.id}"]
    assert events[f"push {allowed.id}"]["allow_burned_in"] is True
    assert events[f"push {allowed.id}"]["clinical"] == "rest"
