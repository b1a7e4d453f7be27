"""A released version is frozen: relabels and merges that add files leave it as it was;
every delete or overwrite of a file it holds is refused (409) and changes nothing, in the
catalog or on disk; once withdrawn, its files may go."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from scandepot.access.actors import SYSTEM
from scandepot.archive import files, projects, resources, scans, sessions, subjects
from scandepot.archive.resources import OwnerRef
from scandepot.archive.sessions import SessionFields
from scandepot.archive.subjects import SubjectFields
from scandepot.catalog.archive import File
from scandepot.catalog.datasets import DatasetFile
from scandepot.context import Context
from scandepot.datasets import lifecycle, release
from scandepot.errors import Conflict
from tests.datasets.conftest import World, put_file
from tests.datasets.test_lifecycle import made


def frozen(ctx: Context) -> tuple[Any, ...]:
    """The manifest and the archive: catalog rows, and every archived file's bytes."""
    with ctx.db.read() as db:
        manifest = tuple(
            db.execute(
                select(DatasetFile.path, DatasetFile.sha256, DatasetFile.file_id).order_by(
                    DatasetFile.path
                )
            ).all()
        )
        archived = db.scalar(select(func.count(File.id)))
    on_disk = {
        str(p.relative_to(ctx.store.archive)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(ctx.store.archive).rglob("*"))
        if p.is_file()
    }
    return manifest, archived, on_disk


def test_relabels_and_a_merge_that_adds_files_leave_the_release_as_it_was(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    before = release.release(ctx, world["member"], ref)
    manifest, _archived, _disk = frozen(ctx)
    sessions.update(ctx, SYSTEM, "A", "E1", SessionFields(label="E1b"))
    subjects.update(ctx, SYSTEM, "B", "S3", SubjectFields(label="S3b"))
    put_file(ctx, OwnerRef("A", session="E1b", scan="1"), "new.dcm", b"added later")
    same = put_file  # the same bytes again, with overwrite: no change to a held file
    same(ctx, OwnerRef("A", session="E1b", scan="1"), "0.dcm", b"A/E1/0", overwrite=True)
    after, _a, _d = frozen(ctx)
    assert after == manifest
    shown = lifecycle.get_version(ctx, world["member"], ref, 1)
    assert (shown.file_count, shown.manifest_sha256) == (before.file_count, before.manifest_sha256)
    assert manifest[0][0] == "A/S1/E1/scans/1/DICOM/0.dcm"  # the labels as at release


DELETES: dict[str, Callable[[Context], object]] = {
    "file": lambda ctx: files.delete(
        ctx, SYSTEM, OwnerRef("A", session="E1", scan="1"), "DICOM", "0.dcm"
    ),
    "resource": lambda ctx: resources.delete(
        ctx, SYSTEM, OwnerRef("A", session="E1", scan="1"), "DICOM"
    ),
    "scan": lambda ctx: scans.delete(ctx, SYSTEM, "A", "E1", "1"),
    "session": lambda ctx: sessions.delete(ctx, SYSTEM, "A", "E1"),
    "subject": lambda ctx: subjects.delete(ctx, SYSTEM, "B", "S3", recursive=True),
    "project": lambda ctx: projects.delete(ctx, SYSTEM, "A", recursive=True),
    "overwrite": lambda ctx: put_file(
        ctx, OwnerRef("B", session="E3", scan="1"), "1.dcm", b"other bytes", overwrite=True
    ),
}


@pytest.mark.parametrize("what", sorted(DELETES))
def test_deleting_or_overwriting_a_held_file_is_refused_and_changes_nothing(
    world: World, what: str
) -> None:
    ctx = world.ctx
    ref = made(world)
    release.release(ctx, world["member"], ref)
    before = frozen(ctx)
    with pytest.raises(Conflict) as refused:
        DELETES[what](ctx)
    assert "brain" in refused.value.message and "version 1" in refused.value.message
    assert refused.value.status == 409
    assert frozen(ctx) == before


def test_the_refusal_names_no_dataset_the_actor_may_not_view(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    release.release(ctx, world["member"], ref)
    with pytest.raises(Conflict) as refused:
        sessions.delete(ctx, world["owner"], "A", "E1")  # A's owner; not the dataset's
    assert "brain" not in refused.value.message
    assert "1 released dataset version(s) you may not view" in refused.value.message


def test_a_withdrawn_version_lets_its_files_go(world: World) -> None:
    ctx = world.ctx
    ref = made(world)
    release.release(ctx, world["member"], ref)
    lifecycle.withdraw(ctx, world["member"], ref, 1, "Gone.")
    sessions.delete(ctx, SYSTEM, "A", "E1")
    with ctx.db.read() as db:
        kept = db.scalar(select(func.count(DatasetFile.id)))
    assert kept == 7  # the manifest stays as it was


def test_a_move_of_a_held_session_is_refused_when_asked(world: World) -> None:
    from scandepot.catalog.transfers import Transfer, TransferKind
    from scandepot.transfers import service
    from scandepot.transfers.requests import TransferRequest

    ctx = world.ctx
    ref = made(world)
    release.release(ctx, world["member"], ref)
    asked = TransferRequest(kind=TransferKind.MOVE, source="A", destination="B", sessions=["E1"])
    with pytest.raises(Conflict) as refused:
        service.start(ctx, SYSTEM, asked)
    assert "move session 'E1'" in str(refused.value.details or refused.value.message)
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Transfer.id))) == 0
