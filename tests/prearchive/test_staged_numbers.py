"""A staged session's number names its spool folder: it is never used twice."""

from __future__ import annotations

from collections.abc import Callable

from scandepot.access.actors import SYSTEM
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import operations


def stage(ctx: Context, study: Study) -> int:
    ds = mr_instance(study, Series(), 1, rows=8, columns=8)
    with ctx.store.stage() as staged:
        staged.write(to_bytes(ds))
        received = receive(ctx, staged, Source("upload", project="PILOT"))
    assert received.staged_id is not None
    return received.staged_id


def test_a_deleted_number_is_not_given_again(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    make_project("private", label="PILOT")
    first = stage(ctx, Study())
    operations.delete(ctx, SYSTEM, first)
    second = stage(ctx, Study())
    assert second > first  # SQLite would reuse the highest row ID once deleted
    folders = sorted(p.name for p in (ctx.store.data_dir / "prearchive").iterdir())
    assert folders == [str(second)]
