"""The bad input of issue 22: metadata that breaks its schema (the field named), sessions
the creator may not read (refused, naming nothing beyond what they gave), an empty
release, a second release while validation runs, steps by someone who is not an owner;
and a site's own metadata fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from scandepot.catalog.datasets import DatasetFile, DatasetMember
from scandepot.datasets import drafts, lifecycle, members, release
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound
from tests.datasets.conftest import World
from tests.datasets.test_lifecycle import META, made


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"title": ""}, "metadata/title"),
        ({"title": "T", "authors": [{"affiliation": "X"}]}, "metadata/authors/0/name"),
        ({"title": "T", "contact": {"name": "N", "email": "nowhere"}}, "metadata/contact/email"),
        ({"title": "T", "keywords": "MRI"}, "metadata/keywords"),
        ({"title": "T", "colour": "blue"}, "metadata/colour"),
        ({"description": "no title"}, "metadata/title"),
        ({"title": "T", "authors": [{"name": "A", "orcid": "12"}]}, "metadata/authors/0/orcid"),
    ],
)
def test_metadata_that_breaks_the_schema_is_refused_naming_the_field(
    world: World, meta: dict[str, object], field: str
) -> None:
    with pytest.raises(Invalid) as refused:
        drafts.create(world.ctx, world["member"], DatasetCreate(name="bad", metadata=meta))
    assert refused.value.field == field
    assert field in refused.value.message
    with pytest.raises(NotFound):
        drafts.get(world.ctx, world["member"], "bad")  # nothing half-made


def test_a_release_needs_the_full_metadata(world: World) -> None:
    view = drafts.create(
        world.ctx, world["member"], DatasetCreate(name="thin", metadata={"title": "T"})
    )
    members.change(world.ctx, world["member"], view.stable_id, MemberChange(add_sessions=["A/E1"]))
    with pytest.raises(Invalid) as refused:
        release.release(world.ctx, world["member"], view.stable_id)
    assert refused.value.field == "metadata/description"
    with world.ctx.db.read() as db:
        assert db.scalar(select(func.count(DatasetFile.id))) == 0


def test_sessions_the_creator_may_not_read_are_refused_naming_only_what_was_given(
    world: World,
) -> None:
    ref = made(world)
    hidden = world.session_id("E4")  # in C, which only the owner reads
    change = MemberChange(add_sessions=["A/E2", hidden, "C/E4", "A/NOPE"])
    with pytest.raises(Invalid) as refused:
        members.change(world.ctx, world["member"], ref, change)
    message = refused.value.message
    assert refused.value.field == "add_sessions"
    assert "3 of the sessions" in message and "Nothing was changed" in message
    # The same words for what does not exist and for what is not theirs; no label of C's.
    assert hidden in message and "C/E4" in message and "A/NOPE" in message and "S4" not in message
    with world.ctx.db.read() as db:
        assert db.scalar(select(func.count(DatasetMember.id))) == 3  # as made
    with pytest.raises(Invalid):
        members.change(world.ctx, world["member"], ref, MemberChange(add_subjects=["C/S4"]))


def test_a_co_owner_cannot_release_sessions_they_may_not_read(world: World) -> None:
    ctx = world.ctx
    view = drafts.create(ctx, world["owner"], DatasetCreate(name="mixed", metadata=META))
    from scandepot.datasets import owners

    owners.add(ctx, world["owner"], view.stable_id, "member")  # before C's session is in
    members.change(ctx, world["owner"], view.stable_id, MemberChange(add_sessions=["C/E4"]))
    with pytest.raises(Forbidden) as refused:
        release.release(ctx, world["member"], view.stable_id)
    assert "E4" not in refused.value.message and "C" not in refused.value.message.split()


def test_an_empty_dataset_is_not_released(world: World) -> None:
    view = drafts.create(world.ctx, world["member"], DatasetCreate(name="empty", metadata=META))
    with pytest.raises(Invalid) as refused:
        release.release(world.ctx, world["member"], view.stable_id)
    assert refused.value.field == "members"
    assert drafts.get(world.ctx, world["member"], "empty").versions[0].state == "draft"


def test_a_second_release_while_validation_runs_is_refused(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    release.release(ctx, world["member"], ref)
    with pytest.raises(Conflict):  # the released version is no draft
        release.release(ctx, world["member"], ref)
    lifecycle.new_version(ctx, world["member"], ref)
    with pytest.raises(Conflict) as refused:
        release.release(ctx, world["member"], ref)
    assert "being validated" in refused.value.message
    with ctx.db.read() as db:  # version 2 wrote no manifest
        assert db.scalar(select(func.count(DatasetFile.id))) == 7


def test_steps_by_someone_who_is_not_an_owner_are_refused(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    for name in ("collaborator", "owner", "outsider"):
        with pytest.raises(NotFound):  # a draft is not theirs to see
            release.release(ctx, world[name], ref)
        with pytest.raises(NotFound):
            drafts.update(ctx, world[name], ref, {"title": "Mine"})
    with pytest.raises(Forbidden):  # a curator sees it, but does not own it
        drafts.update(ctx, world["curator"], ref, {"title": "Mine"})
    release.release(ctx, world["member"], ref)
    with pytest.raises(Forbidden):
        lifecycle.withdraw(ctx, world["curator"], ref, 1)


def test_a_site_adds_its_own_fields(world: World, tmp_path: Path) -> None:
    fields = tmp_path / "fields.json"
    fields.write_text(
        json.dumps(
            {
                "properties": {"ethics_approval": {"type": "string", "pattern": "^EC-[0-9]+$"}},
                "required": ["ethics_approval"],
            }
        )
    )
    ctx = world.ctx
    ctx.settings = ctx.settings.model_copy(update={"dataset_metadata_fields": fields})
    ref = made(world)
    with pytest.raises(Invalid) as refused:
        drafts.update(ctx, world["member"], ref, {"ethics_approval": "yes"})
    assert refused.value.field == "metadata/ethics_approval"
    with pytest.raises(Invalid) as missing:
        release.release(ctx, world["member"], ref)
    assert missing.value.field == "metadata/ethics_approval"
    drafts.update(ctx, world["member"], ref, {"ethics_approval": "EC-12"})
    assert release.release(ctx, world["member"], ref).state == "released"
