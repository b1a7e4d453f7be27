"""Archiving into a released session: a merge that adds instances leaves the release as
it was; an archive with overwrite that would put other bytes in a held file is refused,
changing nothing."""

from __future__ import annotations

import pytest
from pydicom import Dataset
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import File
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.datasets import drafts, members, release
from scandepot.datasets.drafts import DatasetCreate
from scandepot.datasets.members import MemberChange
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.errors import Conflict
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import operations
from tests.datasets.conftest import World
from tests.datasets.test_holds import frozen
from tests.datasets.test_lifecycle import META

STUDY = Study(PatientName="Merge^One", PatientID="M1")
SERIES = Series()


def arrive(ctx: Context, ds: Dataset) -> int:
    """An instance of the study received into project A; its staged session's id."""
    with ctx.store.stage() as staged:
        staged.write(to_bytes(ds))
        receive(ctx, staged, Source("upload", project="A"))
    with ctx.db.read() as db:
        found = db.scalar(
            select(StagedSession.id).where(StagedSession.StudyInstanceUID == STUDY.StudyInstanceUID)
        )
    assert found is not None
    return found


def test_a_merge_adds_files_and_an_overwrite_of_held_bytes_is_refused(world: World) -> None:
    ctx = world.ctx
    one = mr_instance(STUDY, SERIES, 1, rows=8, columns=8)
    first = operations.archive(ctx, SYSTEM, arrive(ctx, one))
    ref = drafts.create(ctx, world["member"], DatasetCreate(name="merged", metadata=META))
    change = MemberChange(add_sessions=[first.session_id])
    members.change(ctx, world["member"], ref.stable_id, change)
    released = release.release(ctx, world["member"], ref.stable_id)
    assert released.file_count == 1
    before = frozen(ctx)
    merged = operations.archive(
        ctx, SYSTEM, arrive(ctx, mr_instance(STUDY, SERIES, 2, rows=8, columns=8))
    )
    assert merged.merged and merged.files == 1
    after = frozen(ctx)
    assert after[0] == before[0] and after[1] == before[1] + 1  # the manifest as it was
    with ctx.db.read() as db:
        held = db.scalar(select(File.sha256).where(File.path.like("%.dcm")).order_by(File.id))
    # The first instance again, other bytes under the same SOP Instance UID, with overwrite.
    one.ImageComments = "other bytes"
    staged = arrive(ctx, one)
    unchanged = frozen(ctx)
    with pytest.raises(Conflict) as refused:
        operations.archive(ctx, SYSTEM, staged, overwrite=True)
    assert "merged (" in refused.value.message and "version 1" in refused.value.message
    assert frozen(ctx) == unchanged
    with ctx.db.read() as db:
        assert (
            db.scalar(select(File.sha256).order_by(File.id).where(File.path.like("%.dcm"))) == held
        )
