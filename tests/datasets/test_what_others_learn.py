"""What a dataset tells those who may not read its data: nothing of projects they may not
read when they take members out of their own draft, nothing of a draft's existence, and
none of a version's exact totals; and no one becomes an owner of data they may not read."""

from __future__ import annotations

import pytest

from scandepot.access.actors import ANONYMOUS
from scandepot.datasets import drafts, lifecycle, members, owners, release
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange
from scandepot.errors import Conflict, Invalid, NotFound
from tests.datasets.conftest import World, validation_passes
from tests.datasets.test_lifecycle import META, made


def test_taking_out_names_no_draft_holds_answers_alike_whether_they_exist(world: World) -> None:
    ctx = world.ctx
    mine = drafts.create(ctx, world["collaborator"], DatasetCreate(name="mine", metadata=META))
    answers = []
    for name in ("C/S4", "C/NOPE"):  # S4 exists in C, which the collaborator may not read
        with pytest.raises(Invalid) as refused:
            members.change(
                ctx, world["collaborator"], mine.stable_id, MemberChange(remove_subjects=[name])
            )
        answers.append(refused.value.message.replace(name, "NAME"))
    assert answers[0] == answers[1]


def test_a_draft_is_not_found_as_a_name_that_does_not_exist_is(world: World) -> None:
    ctx = world.ctx
    drafts.create(ctx, world["owner"], DatasetCreate(name="secret-trial", metadata=META))
    found = []
    for ref in ("secret-trial", "no-such-thing"):
        with pytest.raises(NotFound) as refused:
            drafts.get(ctx, world["collaborator"], ref)
        found.append(refused.value.message.replace(ref, "REF"))
        with pytest.raises(NotFound) as refused:
            lifecycle.get_version(ctx, world["collaborator"], ref, 1)
        found.append(refused.value.message.replace(ref, "REF"))
    assert found[0] == found[2] and found[1] == found[3]
    assert "SD_D" not in " ".join(found)


def test_an_owner_is_someone_who_may_read_what_the_dataset_holds(world: World) -> None:
    ctx = world.ctx
    ref = made(world)  # the member's, of projects A and B
    with pytest.raises(Conflict) as refused:
        owners.add(ctx, world["member"], ref, "outsider")
    assert "A" not in refused.value.message.split() and "E1" not in refused.value.message
    assert owners.add(ctx, world["member"], ref, "owner").owners == ["member", "owner"]


def test_the_public_sees_no_exact_totals_of_a_version(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    release.release(ctx, world["member"], ref)
    validation_passes(ctx, ref, 1)
    lifecycle.validate(ctx, world["curator"], ref, 1)
    lifecycle.publish(ctx, world["member"], ref, 1)
    public = drafts.get(ctx, ANONYMOUS, ref).versions[0]
    assert public.state == "published" and public.aggregates is not None
    assert (public.file_count, public.byte_count, public.manifest_sha256) == (None, None, None)
    assert public.created_by is None and "search" not in public.aggregates
    own = drafts.get(ctx, world["member"], ref).versions[0]
    assert own.file_count == 7 and own.manifest_sha256


def test_only_the_newest_published_version_shows_figures_to_the_public(world: World) -> None:
    from scandepot.datasets import catalogue

    ctx = world.ctx
    ref = made(world)
    for number in (1, 2):
        if number == 2:
            lifecycle.new_version(ctx, world["member"], ref)
        release.release(ctx, world["member"], ref)
        validation_passes(ctx, ref, number)
        lifecycle.validate(ctx, world["curator"], ref, number)
        lifecycle.publish(ctx, world["member"], ref, number)
    first, second = (catalogue.version(ctx, ANONYMOUS, ref, n) for n in (1, 2))
    assert first.aggregates is None and second.aggregates is not None
    public = {v.number: v.aggregates for v in drafts.get(ctx, ANONYMOUS, ref).versions}
    assert public[1] is None and public[2] is not None
    own = {v.number: v.aggregates for v in drafts.get(ctx, world["member"], ref).versions}
    assert own[1] is not None  # the owners still see every version's
