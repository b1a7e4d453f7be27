"""What the pages read of the services: the curators' queue (released versions awaiting
them, for curators alone) and where a user stands with a published version (owner, their
request, whether they may download)."""

from __future__ import annotations

import pytest

from scandepot.access.actors import ANONYMOUS
from scandepot.datasets import access_requests, drafts, lifecycle, members, release
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange
from scandepot.errors import Forbidden, Unauthorized
from tests.datasets.conftest import World, validation_passes
from tests.datasets.test_lifecycle import META


def _released(world: World, name: str) -> str:
    ctx, member = world.ctx, world["member"]
    ref = drafts.create(ctx, member, DatasetCreate(name=name, metadata=META)).stable_id
    members.change(ctx, member, ref, MemberChange(add_sessions=["A/E1"]))
    release.release(ctx, member, ref)
    validation_passes(ctx, ref, 1)
    return ref


def test_the_queue_holds_released_versions_for_curators(world: World) -> None:
    ctx = world.ctx
    first, second = _released(world, "one"), _released(world, "two")
    drafts.create(ctx, world["member"], DatasetCreate(name="draft", metadata={"title": "T"}))
    waiting = lifecycle.waiting(ctx, world["curator"])
    assert [(v.dataset, v.number, v.state) for v in waiting] == [
        (first, 1, "released"),
        (second, 1, "released"),
    ]
    assert waiting[0].inside is not None  # the report, for the curator
    lifecycle.validate(ctx, world["curator"], first, 1)
    assert [v.dataset for v in lifecycle.waiting(ctx, world["admin"])] == [second]
    with pytest.raises(Forbidden):
        lifecycle.waiting(ctx, world["member"])  # an owner is no curator
    with pytest.raises(Unauthorized):
        lifecycle.waiting(ctx, ANONYMOUS)


def test_where_a_user_stands_with_a_published_version(world: World) -> None:
    ctx = world.ctx
    ref = _released(world, "open")
    lifecycle.validate(ctx, world["curator"], ref, 1)
    lifecycle.publish(ctx, world["member"], ref, 1)
    owner = access_requests.standing(ctx, world["member"], ref, 1)
    assert owner.owner and owner.download and owner.request is None
    assert access_requests.standing(ctx, ANONYMOUS, ref, 1).download is False
    outsider = world["outsider"]
    assert access_requests.standing(ctx, outsider, ref, 1).request is None
    asked = access_requests.request(ctx, outsider, ref, 1, "Training a model.")
    found = access_requests.standing(ctx, outsider, ref, 1)
    assert found.request is not None and found.request.state == "pending"
    assert not found.owner and not found.download
    access_requests.decide(ctx, world["member"], ref, 1, asked.id, approve=True)
    assert access_requests.standing(ctx, outsider, ref, 1).download
    access_requests.revoke(ctx, world["member"], ref, 1, asked.id)
    found = access_requests.standing(ctx, outsider, ref, 1)
    assert found.request is not None and found.request.state == "revoked"
    assert not found.download
