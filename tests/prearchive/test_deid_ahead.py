"""The archive script run while a staged session waits: archiving links the copies made
then; copies made from anything that has changed since (the script, the key or the
pseudonym table, the labels, the project, the instances) are never archived, but made
again; a process killed while making them leaves nothing that is used."""

from __future__ import annotations

import datetime as dt
import os
import signal
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import Project
from scandepot.catalog.deid import Pseudonym
from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.dicom.synthetic import Study, to_bytes
from scandepot.prearchive import archiver, deid_ahead, operations, worker
from scandepot.prearchive.deidentify import DeidFailed
from tests import command
from tests.ingest.test_stow import actor, instance, multipart, run
from tests.prearchive import deid_script
from tests.prearchive.test_deid_archive import archived_files, assert_deidentified, sha256, staged

Staged = tuple[int, list[bytes], str]
STUDY: list[Study] = []  # the one study of the test under way


@pytest.fixture(autouse=True)
def label_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("scandepot.deid.scripts.load", deid_script.load)


@pytest.fixture
def waiting(ctx: Context, make_project: Callable[..., str], users: Any) -> Iterator[Staged]:
    """Six instances staged in PILOT, whose archive script is in force; not built yet."""
    ctx.settings.prearchive_quiet_s = 3600
    STUDY.clear()
    project = make_project("private", label="PILOT", upload_destination="archive")
    label = deid_script.save(ctx, project)
    parts = [to_bytes(instance(_study(), n)) for n in range(1, 7)]
    run(ctx, actor(ctx, "member"), multipart(parts), project=project)
    [session] = staged(ctx)
    yield session.id, parts, label


def _study() -> Study:
    if not STUDY:
        STUDY.append(Study(StudyDescription="xnat://PILOT/sub-01/ses-01"))
    return STUDY[0]


def copies(ctx: Context, staged_id: int) -> dict[str, bytes]:
    """The complete copies kept for a session: by inode, their bytes."""
    base = deid_ahead.folder(ctx, staged_id)
    found = [p for p in base.glob("*/*.dcm") if deid_ahead.is_complete(p.parent)]
    return {f"{p.stat().st_ino}": p.read_bytes() for p in found}


def kept_alive(ctx: Context, staged_id: int, aside: Path) -> dict[str, bytes]:
    """:func:`copies`, each given a name aside too, so that no later file can take its
    inode once the session's folder lets it go."""
    found = copies(ctx, staged_id)
    for path in deid_ahead.folder(ctx, staged_id).glob("[!.]*/*.dcm"):
        os.link(path, aside / f"{path.stat().st_ino}.dcm")
    return found


def inodes(paths: list[Path]) -> set[str]:
    return {f"{p.stat().st_ino}" for p in paths}


def archived_dicom(ctx: Context) -> list[Path]:
    return [p for p in archived_files(ctx) if p.suffix == ".dcm"]


def test_the_builders_pass_makes_the_copies_archiving_links(ctx: Context, waiting: Staged) -> None:
    staged_id, parts, label = waiting
    later = utcnow() + dt.timedelta(seconds=worker.SETTLE_S + 1)
    worker.hash_settled(ctx, clock=lambda: later)
    made = copies(ctx, staged_id)
    assert len(made) == len(parts)
    assert list(ctx.store.tmp.iterdir()) == []  # linked into the spool folder, not left
    worker.hash_settled(ctx, clock=lambda: later)  # current: not made again
    assert copies(ctx, staged_id).keys() == made.keys()
    archiver.archive(ctx, SYSTEM, staged_id)
    assert inodes(archived_dicom(ctx)) == made.keys()  # the very files, linked
    assert_deidentified(ctx, "PILOT", parts, subject="sub-01", label=label)
    assert not (ctx.store.data_dir / "prearchive" / str(staged_id)).exists()


def test_copies_made_ahead_are_those_made_on_the_spot(ctx: Context, waiting: Staged) -> None:
    staged_id, parts, label = waiting
    assert deid_ahead.make(ctx, staged_id) == len(parts)
    ahead = sorted(sha256(raw) for raw in copies(ctx, staged_id).values())
    deid_ahead.drop(ctx, staged_id)
    assert copies(ctx, staged_id) == {}
    archiver.archive(ctx, SYSTEM, staged_id)  # made on the spot
    assert sorted(sha256(p.read_bytes()) for p in archived_dicom(ctx)) == ahead
    assert_deidentified(ctx, "PILOT", parts, subject="sub-01", label=label)


# Each change: the label the archived session records then (or None: the same), and
# the instances staged besides.
Change = tuple[str | None, list[bytes]]


def _new_script(ctx: Context, staged_id: int) -> Change:
    return deid_script.save(ctx, "PILOT", deid_script.label_script(version=2)), []


def _relabelled(ctx: Context, staged_id: int) -> Change:
    operations.relabel(ctx, actor(ctx, "owner"), staged_id, operations.Relabel(subject="sub-02"))
    return None, []


def _new_pseudonym(ctx: Context, staged_id: int) -> Change:
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == "PILOT"))
        db.add(Pseudonym(project_id=project_id, kind="ptid", original="X1", pseudonym="Y1"))
    return None, []


def _another_instance(ctx: Context, staged_id: int) -> Change:
    raw = to_bytes(instance(_study(), 7))
    run(ctx, actor(ctx, "member"), multipart([raw]), project="PILOT")
    return None, [raw]


CHANGES = {
    "script": _new_script,
    "labels": _relabelled,
    "pseudonyms": _new_pseudonym,
    "instances": _another_instance,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_stale_copies_are_never_archived(
    ctx: Context, waiting: Staged, change: str, tmp_path: Path
) -> None:
    staged_id, parts, label = waiting
    deid_ahead.make(ctx, staged_id)
    stale = kept_alive(ctx, staged_id, tmp_path)
    assert len(stale) == len(parts)
    new_label, more = CHANGES[change](ctx, staged_id)
    label, parts = new_label or label, [*parts, *more]
    archiver.archive(ctx, SYSTEM, staged_id)  # made again on the spot
    assert not inodes(archived_dicom(ctx)) & stale.keys()
    subject = "sub-02" if change == "labels" else "sub-01"
    assert_deidentified(ctx, "PILOT", parts, subject=subject, label=label)


@pytest.mark.parametrize("change", ["instances", "pseudonyms", "script"])
def test_the_next_pass_makes_stale_copies_again(
    ctx: Context, waiting: Staged, change: str, tmp_path: Path
) -> None:
    staged_id, parts, label = waiting
    deid_ahead.make(ctx, staged_id)
    stale = kept_alive(ctx, staged_id, tmp_path)
    new_label, more = CHANGES[change](ctx, staged_id)
    label, parts = new_label or label, [*parts, *more]
    # A session that grows: the copies of the instances it held are still current.
    new = 1 if change == "instances" else len(parts)
    assert deid_ahead.make(ctx, staged_id) == new
    made = copies(ctx, staged_id)
    assert len(made) == len(parts) and len(made.keys() - stale.keys()) == new
    assert len(list(deid_ahead.folder(ctx, staged_id).iterdir())) == 2  # the lock, the copies
    archiver.archive(ctx, SYSTEM, staged_id)
    assert inodes(archived_dicom(ctx)) == made.keys()
    assert_deidentified(ctx, "PILOT", parts, subject="sub-01", label=label)


def test_a_move_to_another_project_leaves_the_copies_unused(
    ctx: Context, waiting: Staged, make_project: Callable[..., str], tmp_path: Path
) -> None:
    staged_id, parts, _label = waiting
    other = make_project("private", label="OTHER", upload_destination="archive")
    label = deid_script.save(ctx, other)
    deid_ahead.make(ctx, staged_id)
    stale = kept_alive(ctx, staged_id, tmp_path)
    operations.relabel(ctx, actor(ctx, "admin"), staged_id, operations.Relabel(project=other))
    archiver.archive(ctx, SYSTEM, staged_id)
    assert not inodes(archived_dicom(ctx)) & stale.keys()
    assert_deidentified(ctx, other, parts, subject="sub-01", label=label)


def test_a_refusing_script_is_tried_once_until_something_changes(
    ctx: Context, waiting: Staged
) -> None:
    staged_id, _parts, _label = waiting
    deid_script.save(ctx, "PILOT", deid_script.label_script(refuse="T1w MPRAGE"))
    assert deid_ahead.make(ctx, staged_id) == 0
    [failed] = deid_ahead.folder(ctx, staged_id).glob("*.failed")
    assert "may not be archived" in failed.read_text()
    before = failed.stat().st_mtime_ns
    assert deid_ahead.make(ctx, staged_id) == 0
    assert failed.stat().st_mtime_ns == before  # not tried again
    with pytest.raises(DeidFailed, match="may not be archived"):
        archiver.archive(ctx, SYSTEM, staged_id)  # the archive meets it and says so
    [session] = staged(ctx)
    assert session.status == Status.ERROR
    assert archived_dicom(ctx) == []


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from scandepot.context import Context
    from scandepot.prearchive import deid_ahead
    from scandepot.settings import Settings
    from tests.prearchive import deid_script

    data, url, staged, where, n = sys.argv[1:6]
    deid_script.install()
    ctx = Context.from_settings(Settings(data_dir=Path(data), database_url=url))
    calls = {"count": 0}

    def dying(real):
        def call(*args, **kwargs):
            if calls["count"] == int(n):
                os.kill(os.getpid(), signal.SIGKILL)
            calls["count"] += 1
            return real(*args, **kwargs)
        return call

    if where == "link":  # copies being linked into the session's folder
        os.link = dying(os.link)
    else:  # the manifest written, the folder not yet renamed
        os.rename = dying(os.rename)
    deid_ahead.make(ctx, int(staged))
    sys.exit(3)  # the kill point was never reached
    """
)


@pytest.mark.interop
@pytest.mark.parametrize(("where", "n"), [("link", 0), ("link", 4), ("rename", 0)])
def test_kill_9_while_making_copies_leaves_none_in_use(
    ctx: Context, waiting: Staged, where: str, n: int
) -> None:
    staged_id, parts, label = waiting
    assert ctx.settings.database_url is not None
    child = command.run_code(
        CHILD,
        [str(ctx.store.data_dir), ctx.settings.database_url, str(staged_id), where, str(n)],
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert [p.name for p in deid_ahead.folder(ctx, staged_id).glob("*.part")] != []
    assert copies(ctx, staged_id) == {}
    with deid_ahead.held(ctx, staged_id) as found:
        assert found is None
    assert deid_ahead.make(ctx, staged_id) == len(parts)  # the half-made folder goes
    assert list(deid_ahead.folder(ctx, staged_id).glob("*.part")) == []
    made = copies(ctx, staged_id)
    ctx.store.clean(older_than_s=0)  # the killed process's temporary names
    archiver.archive(ctx, SYSTEM, staged_id)
    assert inodes(archived_dicom(ctx)) == made.keys()
    assert_deidentified(ctx, "PILOT", parts, subject="sub-01", label=label)


def test_a_session_deleted_takes_its_copies_along(ctx: Context, waiting: Staged) -> None:
    staged_id, _parts, _label = waiting
    deid_ahead.make(ctx, staged_id)
    assert copies(ctx, staged_id)
    operations.delete(ctx, actor(ctx, "owner"), staged_id)
    assert not deid_ahead.folder(ctx, staged_id).exists()
    with ctx.db.read() as db:
        assert db.get(StagedSession, staged_id) is None


def test_a_script_turned_off_leaves_no_copies(ctx: Context, waiting: Staged) -> None:
    staged_id, parts, _label = waiting
    deid_ahead.make(ctx, staged_id)
    assert copies(ctx, staged_id)
    deid_script.save(ctx, "PILOT", enabled=False)
    assert deid_ahead.make(ctx, staged_id) == 0
    assert copies(ctx, staged_id) == {}
    archiver.archive(ctx, SYSTEM, staged_id)  # as received
    received = sorted(sha256(p.read_bytes()) for p in archived_dicom(ctx))
    assert received == sorted(sha256(raw) for raw in parts)


def test_a_project_without_a_script_gets_no_folder(ctx: Context, waiting: Staged) -> None:
    staged_id, _parts, _label = waiting
    deid_script.save(ctx, "PILOT", enabled=False)
    assert deid_ahead.make(ctx, staged_id) == 0
    assert not deid_ahead.folder(ctx, staged_id).exists()
