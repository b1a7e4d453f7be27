"""kill -9 in the middle of archiving a staged session, at many points: after the
restart's recovery the archive and the catalog agree, the session is archived (by the
builder, for a project that archives on its own), and the same study can come again."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from scandepot.access.actors import SYSTEM
from scandepot.archive.check import check
from scandepot.catalog.archive import File
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import archiver, journal, operations, worker
from tests import command
from tests.prearchive.states import ready, staged_and_archived

pytestmark = pytest.mark.interop

PER_SERIES = 8
SERIES = 3

# Runs archive() in a child process that SIGKILLs itself at the n-th call of one of the
# archive's own file operations (or after the catalog commit, for "commit").
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from scandepot.access.actors import SYSTEM
    from scandepot.context import Context
    from scandepot.prearchive import archiver
    from scandepot.settings import Settings

    data, url, staged, where, n, overwrite = sys.argv[1:7]
    ctx = Context.from_settings(Settings(data_dir=Path(data), database_url=url))
    calls = {"count": 0}

    def dying(real):
        def call(*args, **kwargs):
            if calls["count"] == int(n):
                os.kill(os.getpid(), signal.SIGKILL)
            calls["count"] += 1
            return real(*args, **kwargs)
        return call

    def pausing(real):
        def call(*args, **kwargs):
            if calls["count"] == int(n):
                time.sleep(3)  # an archive under way while another process starts
            calls["count"] += 1
            return real(*args, **kwargs)
        return call

    if where == "commit":  # the catalog committed, the spool not yet removed
        ctx.store.remove_tree = dying(ctx.store.remove_tree)
    elif where == "pause":
        os.link = pausing(os.link)
    else:
        setattr(os, where, dying(getattr(os, where)))  # the process's own file calls
    archiver.archive(ctx, SYSTEM, int(staged), overwrite=overwrite == "1")
    sys.exit(0 if where == "pause" else 3)  # 3: the kill point was never reached
    """
)


def stage(ctx: Context, study: Study, series: list[Series], seed: int = 0) -> int:
    """Stage the study: the same SOP Instance UIDs every time, the pixels from ``seed``."""
    ids = set()
    token = int(hashlib.sha256(study.StudyInstanceUID.encode()).hexdigest()[:24], 16)
    for s in series:
        for n in range(1, PER_SERIES + 1):
            ds = mr_instance(study, s, n, rows=8, columns=8, seed=seed + n)
            sop = f"2.25.{token}.{s.SeriesNumber}.{n}"
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
            staged = ctx.store.stage()
            staged.write(to_bytes(ds))
            got = receive(ctx, staged, Source("upload"))
            staged.discard()
            ids.add(got.staged_id)
    (found,) = ids
    assert found is not None
    return found


def child_args(ctx: Context, staged: int, where: str, n: int, *, overwrite: bool) -> list[str]:
    assert ctx.settings.database_url is not None
    return [
        sys.executable,
        "-c",
        CHILD,
        str(ctx.store.data_dir),
        ctx.settings.database_url,
        str(staged),
        where,
        str(n),
        "1" if overwrite else "0",
    ]


CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def archive_and_die(ctx: Context, staged: int, where: str, n: int, *, overwrite: bool) -> int:
    argv = child_args(ctx, staged, where, n, overwrite=overwrite)
    return command.run_code(CHILD, argv[3:], env=CHILD_ENV).returncode


def files_of(ctx: Context) -> int:
    with ctx.db.read() as db:
        return int(db.scalar(select(func.count()).select_from(File)) or 0)


@pytest.fixture
def study(ctx: Context, make_project: Callable[..., str]) -> tuple[Study, list[Series]]:
    ctx.settings.prearchive_quiet_s = 0
    make_project("private", label="PILOT", upload_destination="archive")
    return Study(StudyDescription="xnat://PILOT/sub-01/ses-01"), [
        Series(i + 1) for i in range(SERIES)
    ]


def archived_once(ctx: Context) -> None:
    """The builder's next pass archives the session taken back (a READY session of an
    auto-archiving project): once, every file, nothing left staged or journalled."""
    worker.run_once(ctx)
    assert staged_and_archived(ctx) == (0, 1)
    assert files_of(ctx) == SERIES * PER_SERIES
    report = check(ctx)
    assert report.ok, report
    assert journal.pending(ctx) == []


# Each point on one catalog, the first and last of each kind on both (a child process
# per case: the points are many, the catalog matters little to where files are).
KILL_POINTS = [
    ("sqlite", "link", 0),
    ("postgresql", "link", 0),
    ("sqlite", "link", 1),
    ("postgresql", "link", 7),
    ("sqlite", "link", 13),
    ("sqlite", "link", 23),
    ("postgresql", "link", 23),
    ("sqlite", "commit", 0),
    ("postgresql", "commit", 0),
]


@pytest.mark.parametrize(("backend", "where", "n"), KILL_POINTS)
def test_kill_9_while_archiving_then_restart(
    ctx: Context, study: tuple[Study, list[Series]], where: str, n: int
) -> None:
    staged = stage(ctx, *study)
    ready(ctx, staged)
    assert archive_and_die(ctx, staged, where, n, overwrite=False) == -signal.SIGKILL

    worker.recover(ctx)  # what a restart does first
    assert check(ctx).ok, check(ctx)
    archived_once(ctx)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_running_builder_undoes_and_archives_what_a_killed_archive_left(
    ctx: Context, study: tuple[Study, list[Series]]
) -> None:
    """The archiving process killed while other builders run on (scaled out): one of
    them, without a restart, undoes the archive's files and archives the session."""
    staged = stage(ctx, *study)
    ready(ctx, staged)
    assert archive_and_die(ctx, staged, "link", 7, overwrite=False) == -signal.SIGKILL
    assert journal.pending(ctx) == [staged]
    assert worker.take_back_abandoned(ctx) == [staged]  # a running builder's look
    assert check(ctx).ok, check(ctx)
    archived_once(ctx)


@pytest.mark.parametrize("n", [0, 17])
def test_a_staged_session_deleted_after_the_crash_can_come_again(
    ctx: Context, study: tuple[Study, list[Series]], n: int
) -> None:
    """The case that failed with FileExistsError for ever: crash, restart, the staged
    session deleted by someone, then the same study sent again."""
    ctx.settings.prearchive_quiet_s = 3600  # nobody archives it meanwhile
    staged = stage(ctx, *study)
    ready(ctx, staged)
    assert archive_and_die(ctx, staged, "link", n, overwrite=False) == -signal.SIGKILL
    worker.recover(ctx)
    operations.delete(ctx, SYSTEM, staged)
    assert check(ctx).ok
    again = stage(ctx, *study)
    archiver.archive(ctx, SYSTEM, again)
    assert files_of(ctx) == SERIES * PER_SERIES
    assert check(ctx).ok


def test_an_archive_left_by_a_crash_before_the_journal_is_adopted(
    ctx: Context, study: tuple[Study, list[Series]]
) -> None:
    """Data folders from before the journal may hold uncatalogued links: the same bytes
    at an archive name are taken as done, other bytes stop the archive with the name."""
    ctx.settings.prearchive_quiet_s = 3600
    staged = stage(ctx, *study)
    ready(ctx, staged)
    assert archive_and_die(ctx, staged, "link", 10, overwrite=False) == -signal.SIGKILL
    (ctx.store.data_dir / "prearchive" / str(staged) / journal.NAME).unlink()  # no journal
    operations.delete(ctx, SYSTEM, staged)
    assert not check(ctx).ok  # the orphans of the old kind
    again = stage(ctx, *study)
    archiver.archive(ctx, SYSTEM, again)
    assert files_of(ctx) == SERIES * PER_SERIES
    assert check(ctx).ok


@pytest.mark.parametrize("n", [0, 8])
def test_kill_9_while_overwriting_restores_the_archived_files(
    ctx: Context, study: tuple[Study, list[Series]], n: int
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    first = stage(ctx, *study)
    archiver.archive(ctx, SYSTEM, first)
    before = check(ctx)
    assert before.ok
    staged = stage(ctx, *study, seed=1000)  # the same UIDs, other bytes
    ready(ctx, staged)
    assert archive_and_die(ctx, staged, "replace", n, overwrite=True) == -signal.SIGKILL
    worker.recover(ctx)
    report = check(ctx)
    assert report.ok, report  # every archived file holds what the catalog says again
    done = archiver.archive(ctx, SYSTEM, staged, overwrite=True)
    assert len(done.replaced) == SERIES * PER_SERIES
    assert check(ctx).ok


def test_recovery_in_another_process_leaves_a_live_archive_alone(
    ctx: Context, study: tuple[Study, list[Series]]
) -> None:
    """Several processes run a builder against one catalog (serve and scandepot dicom):
    one that starts while another archives must not take that archive for a crashed one."""
    ctx.settings.prearchive_quiet_s = 3600
    staged = stage(ctx, *study)
    ready(ctx, staged)
    child = subprocess.Popen(
        child_args(ctx, staged, "pause", 5, overwrite=False),
        env=CHILD_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        journal_file = ctx.store.data_dir / "prearchive" / str(staged) / journal.NAME
        deadline = time.monotonic() + 60
        while not journal_file.exists():  # the archive has started linking
            assert child.poll() is None and time.monotonic() < deadline, child.stdout
            time.sleep(0.05)
        worker.recover(ctx)  # waits for the live archive, then finds nothing to undo
    finally:
        out, _ = child.communicate(timeout=120)
    assert child.returncode == 0, out
    assert files_of(ctx) == SERIES * PER_SERIES
    report = check(ctx)
    assert report.ok, report
