"""The areas that are folders only (temporary files, pipelines' scratch), the unmatched
drops through their source, and the archive, which no schedule reaches."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import File, Scan, Session
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.notify import dispatch
from scandepot.retention.areas import AreaName
from scandepot.retention.drops import UnmatchedDrop
from scandepot.retention.run import run_once
from scandepot.storage.changes import Changes
from tests.notify.world import build as build_all
from tests.notify.world import notices, upload
from tests.retention.world import audited, schedule, stage, staged_ids, temporary

H = dt.timedelta(hours=1)


def test_old_temporary_files_go_and_files_being_written_stay(ctx: Context, users: object) -> None:
    now = utcnow()
    old = temporary(ctx, now - 3 * H, size=123)
    fresh = temporary(ctx, now - dt.timedelta(minutes=5))
    kept = ctx.store.tmp / "transfer-item-3.journal"  # an undo journal is no area's
    kept.write_bytes(b"{}\n")
    schedule(ctx, "temporary", age_hours=2, warn_hours=1)
    assert run_once(ctx, now=now).warned == 1  # the fresh one is not due for a warning yet
    assert run_once(ctx, now=now + 61 * dt.timedelta(minutes=1)).deleted == 1
    assert not old.exists() and fresh.exists() and kept.exists()
    (entry,) = audited(ctx)
    assert (entry.target, entry.project, entry.detail["size"]) == (
        f"temporary:{old.name}",
        None,
        123,
    )
    dispatch.run(ctx, now=now)
    assert {a for a, _t, k in notices(ctx) if k == "RetentionDue"} == {"admin@example.org"}


def test_a_temporary_file_written_since_the_plan_is_left(ctx: Context) -> None:
    now = utcnow()
    path = temporary(ctx, now - 3 * H)
    schedule(ctx, "temporary", age_hours=2)
    from scandepot.retention.files import TemporaryArea

    area = TemporaryArea()
    (item,) = area.items(ctx)
    path.write_bytes(b"more")  # a writer still at it
    with Changes(ctx.store) as changes, ctx.db.write() as db:
        assert not area.remove(ctx, db, changes, item)
    assert path.exists()


def _job(ctx: Context, project: str, status: JobStatus, claim: str | None) -> int:
    from scandepot.catalog.archive import Project

    with ctx.db.write() as db:
        pid = db.scalar(select(Project.id).where(Project.label == project))
        job = Job(
            project_id=pid,
            pipeline="dcm2niix",
            target="E1",
            launched_by="member",
            status=status.value,
            claim=claim,
        )
        db.add(job)
        db.flush()
        return job.id


def _scratch(ctx: Context, job_id: int, claim: str, changed: dt.datetime) -> Path:
    folder = ctx.store.tmp / f"job-{job_id}-{claim[:8]}"
    (folder / "out").mkdir(parents=True)
    (folder / "out" / "a.nii").write_bytes(b"n" * 50)
    import os

    os.utime(folder, (changed.timestamp(), changed.timestamp()))
    return folder


def test_scratch_left_by_a_dead_job_goes_that_of_a_running_job_stays(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    pilot = make_project(label="PILOT")
    now = utcnow()
    dead = _scratch(ctx, _job(ctx, pilot, JobStatus.FAILED, None), "deadbeef", now - 30 * H)
    claim = "cafef00d12345678"
    running = _scratch(ctx, _job(ctx, pilot, JobStatus.RUNNING, claim), claim, now - 30 * H)
    schedule(ctx, "scratch", age_days=1, warn_hours=2)
    assert run_once(ctx, now=now).warned == 1
    dispatch.run(ctx, now=now)
    told = {a for a, _t, k in notices(ctx) if k == "RetentionDue"}
    assert told == {"owner@example.org", "member@example.org"}  # the launcher is a member
    assert run_once(ctx, now=now + 2 * H).deleted == 1
    assert not dead.exists() and running.exists()
    (entry,) = audited(ctx)
    assert entry.project == pilot and entry.detail["size"] == 50


class FolderDrops:
    """A drop source over a folder: each file in it an unmatched drop of PILOT."""

    def __init__(self, folder: Path, project: str) -> None:
        self.folder, self.project = folder, project

    def unmatched(self, ctx: Context) -> list[UnmatchedDrop]:
        return [
            UnmatchedDrop(
                p.name,
                self.project,
                p.name,
                dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC),
                p.stat().st_size,
            )
            for p in sorted(self.folder.iterdir())
        ]

    def discard(self, ctx: Context, db: DBSession, changes: Changes, key: str) -> bool:
        return changes.set_aside(self.folder / key)


def test_unmatched_drops_go_through_their_source(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    pilot = make_project(label="PILOT")
    folder = ctx.store.data_dir / "drops-under-test"
    folder.mkdir()
    now = utcnow()
    for name in ("physio.log", "eye.edf"):
        (folder / name).write_bytes(b"d")
    schedule(ctx, "drops", age_hours=1)
    done = run_once(ctx, now=now + 2 * H, drops=FolderDrops(folder, pilot))
    assert done.deleted == 2 and list(folder.iterdir()) == []
    assert sorted(e.target for e in audited(ctx)) == ["drops:eye.edf", "drops:physio.log"]
    assert {e.detail["area"] for e in audited(ctx)} == {AreaName.DROPS.value}


def _archive_state(ctx: Context) -> tuple[object, ...]:
    files = sorted(
        (str(p.relative_to(ctx.store.archive)), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in ctx.store.archive.rglob("*")
        if p.is_file()
    )
    with ctx.db.read() as db:
        counts = tuple(
            db.scalar(select(func.count()).select_from(t)) for t in (Session, Scan, File)
        )
        archived = db.scalar(select(func.count(Instance.id)).where(Instance.scan_id.is_not(None)))
    return files, counts, archived


def test_the_archive_is_never_touched(ctx: Context, make_project: Callable[..., str]) -> None:
    archived = make_project(label="ARCH", upload_destination="archive")
    upload(ctx, archived, "S1", "E1", by="member")
    build_all(ctx)
    waiting = make_project(label="WAIT", upload_destination="prearchive")
    stage(ctx, waiting)
    stage(ctx, None, label="E9")
    before = _archive_state(ctx)
    files, counts, instances = before
    assert files and counts[0] == 1 and instances  # there is an archive to touch
    for area in AreaName:
        schedule(ctx, area.value, age_hours=1)
    far = utcnow() + dt.timedelta(days=3650)
    assert run_once(ctx, now=far).deleted == 2  # the two staged sessions, nothing else
    assert staged_ids(ctx) == []
    assert _archive_state(ctx) == before
    assert all(not e.target.startswith(("archive", "session")) for e in audited(ctx))


def test_serve_runs_retention_on_its_own(ctx: Context) -> None:
    import time

    from scandepot.retention.run import Keeper

    old = temporary(ctx, utcnow() - 3 * H)
    schedule(ctx, "temporary", age_hours=1)
    ctx.settings.retention_interval_s = 0.05
    keeper = Keeper(ctx).start()
    try:
        deadline = time.monotonic() + 20
        while old.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        keeper.stop()
    assert not old.exists() and len(audited(ctx)) == 1


def test_the_sites_own_unmatched_sftp_drops_go_by_default(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    from scandepot.catalog.drops import DropAccount, DropItem
    from scandepot.ingest import drop_accounts, drop_settler, drops
    from scandepot.ingest.drop_accounts import DropAccountCreate
    from scandepot.ingest.sftp_signin import DropPrincipal

    pilot = make_project(label="PILOT")
    drop_accounts.create(ctx, SYSTEM, pilot, DropAccountCreate(name="console", password="x" * 16))
    with ctx.db.read() as db:
        account = db.scalars(select(DropAccount)).one()
        who = DropPrincipal(account.id, account.project_id, pilot, account.username, None)
    drops.make_folder(ctx, who, ("physio",))
    upload = drops.begin(ctx, who, ("physio", "resp.log"))
    upload.write(0, b"breathing")
    drop_settler.finish(upload)
    (waiting,) = drops.unmatched_drops(ctx)
    assert waiting.size == len(b"breathing")
    on_disk = [p for p in drops.root(ctx).rglob("*") if p.is_file()]
    assert on_disk
    schedule(ctx, "drops", age_hours=1)
    done = run_once(ctx, now=utcnow() + 2 * H)  # no source handed in: the site's own
    assert done.deleted == 1
    assert drops.unmatched_drops(ctx) == [] and not any(p.exists() for p in on_disk)
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(DropItem.id))) == 0
    (entry,) = audited(ctx)
    assert (entry.project, entry.detail["area"]) == (pilot, AreaName.DROPS.value)


def test_a_drop_key_never_passes_to_a_later_drop_with_the_same_id(
    ctx: Context, make_project: Callable[..., str]
) -> None:
    from scandepot.catalog.drops import DropAccount
    from scandepot.ingest import drop_accounts, drop_settler, drops
    from scandepot.ingest.drop_accounts import DropAccountCreate
    from scandepot.ingest.sftp_signin import DropPrincipal
    from scandepot.retention.drops import IngestDrops

    pilot = make_project(label="PILOT")
    drop_accounts.create(ctx, SYSTEM, pilot, DropAccountCreate(name="console", password="x" * 16))
    with ctx.db.read() as db:
        account = db.scalars(select(DropAccount)).one()
        who = DropPrincipal(account.id, account.project_id, pilot, account.username, None)

    def dropped(name: str) -> None:
        upload = drops.begin(ctx, who, (name,))
        upload.write(0, b"d")
        drop_settler.finish(upload)

    source = IngestDrops()
    dropped("first.log")
    (old,) = source.unmatched(ctx)
    drops.delete_drop(ctx, int(old.key.split(":")[0]))
    dropped("second.log")
    (new,) = source.unmatched(ctx)
    assert new.key != old.key  # whatever id the new one got
    with Changes(ctx.store) as changes, ctx.db.write() as db:
        assert source.discard(ctx, db, changes, old.key) is False  # planned for the first
    assert [d.path for d in drops.unmatched_drops(ctx)] == ["second.log"]
