"""A dataset's whole life, with each role: created, filled from two projects, released,
validated (or sent back) by a curator, published, withdrawn, a new version from the last;
and what each role may not do."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from scandepot.access.actors import ANONYMOUS
from scandepot.catalog.access import AuditEvent
from scandepot.catalog.datasets import DatasetEvent, DatasetFile, DatasetMember
from scandepot.catalog.journal import EventRecord
from scandepot.datasets import drafts, lifecycle, manifest, members, owners, release
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange
from scandepot.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from tests.datasets.conftest import World, validation_passes

META = {
    "title": "Brain MRI at 3T",
    "description": "T1w of two cohorts.",
    "authors": [{"name": "Ada Lovelace", "orcid": "0000-0002-1825-0097"}],
    "contact": {"name": "Data desk", "email": "desk@example.org"},
    "licence": "CC-BY-4.0",
    "keywords": ["MRI", "brain"],
    "body_parts": ["BRAIN"],
    "conditions": ["healthy"],
    "provenance": "Acquired 2024.",
    "funding": ["Grant 1"],
}


def made(world: World, name: str = "brain") -> str:
    """A dataset of member's with E1 (by label), S3 (by ID... of its session's subject)."""
    view = drafts.create(world.ctx, world["member"], DatasetCreate(name=name, metadata=META))
    change = MemberChange(add_sessions=["A/E1", world.session_id("E2")], add_subjects=["B/S3"])
    members.change(world.ctx, world["member"], view.stable_id, change)
    return view.stable_id


def test_the_whole_life_with_each_role(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    assert ref.endswith("_D00001")
    # Only its owners (and curators, admins) see a draft.
    for name in ("outsider", "collaborator", "owner"):
        with pytest.raises(NotFound):
            drafts.get(ctx, world[name], ref)
    with pytest.raises(Unauthorized):
        drafts.get(ctx, ANONYMOUS, ref)
    assert [m.id for m in members.listed(ctx, world["curator"], ref)][0].startswith("SD_S")
    released = release.release(ctx, world["member"], ref)
    assert released.state == "released" and released.validation == "pending"
    assert released.file_count == 2 + 2 + 3
    with ctx.db.read() as db:
        rows = list(
            db.execute(
                select(DatasetFile.path, DatasetFile.sha256).order_by(DatasetFile.path)
            ).all()
        )
    assert rows[0][0] == "A/S1/E1/scans/1/DICOM/0.dcm"
    lines = "".join(f"{sha}  {path}\n" for path, sha in sorted(rows, key=lambda r: r[0].encode()))
    assert released.manifest_sha256 == hashlib.sha256(lines.encode()).hexdigest()
    # Curating is the curators'; publishing the owners'.
    validation_passes(ctx, ref, 1)
    with pytest.raises(Forbidden):
        lifecycle.validate(ctx, world["member"], ref, 1)
    with pytest.raises(NotFound):
        lifecycle.validate(ctx, world["outsider"], ref, 1)
    with pytest.raises(Conflict):  # not validated yet
        lifecycle.publish(ctx, world["member"], ref, 1)
    validated = lifecycle.validate(ctx, world["curator"], ref, 1, "Fine.")
    assert validated.state == "validated"
    with pytest.raises(Forbidden):
        lifecycle.publish(ctx, world["curator"], ref, 1)
    published = lifecycle.publish(ctx, world["member"], ref, 1)
    assert published.state == "published" and published.aggregates is not None
    assert published.aggregates["counts"]["subjects"] == "<5"
    # The public sees a published version, but nothing inside it.
    public = drafts.get(ctx, world["outsider"], ref)
    assert [v.number for v in public.versions] == [1] and public.versions[0].inside is None
    assert public.owners is None
    with pytest.raises(Forbidden):  # it is public: it exists, its inside is not theirs
        members.listed(ctx, world["outsider"], ref, 1)
    with pytest.raises(Forbidden):
        manifest.open_manifest(ctx, world["outsider"], ref, 1, "json")
    # A new version: a draft from the last, its members and metadata copied.
    second = lifecycle.new_version(ctx, world["member"], ref)
    assert second.number == 2 and second.state == "draft" and second.metadata == META
    assert second.inside is not None and second.inside.members == 3
    with pytest.raises(Conflict):
        lifecycle.new_version(ctx, world["member"], ref)
    withdrawn = lifecycle.withdraw(ctx, world["member"], ref, 1, "Superseded.")
    assert withdrawn.state == "withdrawn"
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).where(DatasetFile.file_id.is_not(None))) == 0
        assert db.scalar(select(func.count(DatasetFile.id))) == 7  # the manifest stays
        steps = list(db.scalars(select(DatasetEvent.action).order_by(DatasetEvent.id)))
        audited = set(
            db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("dataset.%")))
        )
        told = list(db.scalars(select(EventRecord.kind)))
    assert steps == [
        "created",
        "members_changed",
        "released",
        "validated",
        "published",
        "version_created",
        "withdrawn",
    ]
    assert {f"dataset.{s}" for s in steps} == audited
    assert told == ["DatasetChanged"] * 5  # the quiet steps on a draft tell no one


def test_a_curator_sends_back_with_comments_and_the_owners_start_again(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    release.release(ctx, world["member"], ref)
    with pytest.raises(Invalid) as empty:
        lifecycle.send_back(ctx, world["curator"], ref, 1, "  ")
    assert empty.value.field == "comment"
    back = lifecycle.send_back(ctx, world["admin"], ref, 1, "Add the consent forms.")
    assert back.state == "sent_back"
    assert back.inside is not None and back.inside.curator_comment == "Add the consent forms."
    with pytest.raises(Conflict):
        lifecycle.validate(ctx, world["curator"], ref, 1)
    again = lifecycle.new_version(ctx, world["member"], ref)
    assert again.number == 2
    history = drafts.steps(ctx, world["member"], ref)
    assert [(e.action, e.comment) for e in history if e.action == "sent_back"] == [
        ("sent_back", "Add the consent forms.")
    ]


def test_owners_come_and_go_but_one_stays(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    with pytest.raises(NotFound):  # not an owner: the draft does not exist for them
        owners.add(ctx, world["collaborator"], ref, "collaborator")
    owners.add(ctx, world["member"], ref, "collaborator")
    assert drafts.get(ctx, world["collaborator"], ref).owners == ["collaborator", "member"]
    owners.remove(ctx, world["collaborator"], ref, "member")
    with pytest.raises(Conflict):
        owners.remove(ctx, world["collaborator"], ref, "collaborator")
    with pytest.raises(NotFound):
        drafts.get(ctx, world["member"], ref)


def test_a_dataset_never_released_can_be_deleted_a_released_one_not(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    drafts.delete(ctx, world["member"], ref)
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(DatasetMember.id))) == 0
    ref = made(world, "other")
    release.release(ctx, world["member"], ref)
    with pytest.raises(Conflict):
        drafts.delete(ctx, world["member"], ref)
