"""Moves: copied, verified from the catalog and the bytes, and only then deleted; and
resources, scans and the prearchive as the request asks."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from scandepot.access.actors import SYSTEM
from scandepot.access.users import actor_for
from scandepot.archive import check, projects
from scandepot.archive.projects import ProjectSettings
from scandepot.catalog.archive import Scan, Session, Subject
from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.catalog.transfers import TransferKind
from scandepot.context import Context
from scandepot.transfers import service
from scandepot.transfers.requests import TransferRequest
from tests.transfers.conftest import Archive, run_transfers


def with_resources(archive: Archive) -> None:
    archive.session("S1", "E1", (1, 2))
    archive.put("sessions/E1/resources/QA/files/report.txt", b"qa report")
    archive.put("sessions/E1/scans/1/resources/NIFTI/files/t1.nii.gz", b"nifti bytes")
    archive.put("subjects/S1/resources/NOTES/files/consent.txt", b"notes")


def move(archive: Archive, **fields: Any) -> TransferRequest:
    values: dict[str, Any] = {
        "kind": TransferKind.MOVE,
        "source": archive.source,
        "destination": archive.dest,
    }
    values.update(fields)
    return TransferRequest(**values)


def test_a_verified_move_of_a_subject_with_its_resources_leaves_nothing_behind(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    with_resources(archive)
    owner = actor_for(users["owner"])
    view = service.start(ctx, owner, move(archive, subjects=["S1"], with_resources=True))
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    done = service.get(ctx, owner, view.transfer.id)
    assert done.verified, done.message
    compared = done.items[0].verified["compared"]
    assert compared["by"] == ["catalog", "bytes"] and compared["ok"]
    assert compared["files"] == 6 + 3  # the DICOM, the NIfTI, the QA report, the notes
    assert done.items[0].status == "deleted" and done.items[0].verified["kept_in_source"] == []
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Session.id))) == 1
        moved = db.scalar(select(Session))
        assert moved is not None and moved.project.label == archive.dest
        assert [s.project.label for s in db.scalars(select(Subject))] == [archive.dest]
        assert db.scalar(select(func.count(Scan.id))) == 2
    files = archive.client.get(
        f"/api/v1/projects/{archive.dest}/subjects/S1/resources/NOTES/files/consent.txt",
        auth=archive.actors["owner"],
    )
    assert files.status_code == 200 and files.content == b"notes"
    assert not (ctx.store.archive / archive.source / "subjects" / "S1").exists()
    assert check.check(ctx).ok


def test_a_move_without_resources_keeps_what_it_did_not_copy(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    with_resources(archive)
    owner = actor_for(users["owner"])
    view = service.start(ctx, owner, move(archive, sessions=["E1"]))
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    item = service.get(ctx, owner, view.transfer.id).items[0]
    assert sorted(item.verified["kept_in_source"]) == [
        "scan 1 (resources not copied)",
        "session resource QA",
    ]
    with ctx.db.read() as db:
        kept = db.scalar(select(Session).where(Session.project.has(label=archive.source)))
        assert kept is not None  # still holds scan 1's NIfTI and the QA report
        assert db.scalars(select(Scan.label).where(Scan.session_id == kept.id)).all() == ["1"]
    assert check.check(ctx).ok


def test_a_move_whose_bytes_do_not_verify_deletes_nothing(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1", (1,))
    broken = next((ctx.store.archive / archive.source).rglob("*.dcm"))
    broken.write_bytes(b"not what was archived")  # the disk went bad since
    owner = actor_for(users["owner"])
    view = service.start(ctx, owner, move(archive, sessions=["E1"]))
    assert run_transfers(ctx) == [JobStatus.FAILED]
    done = service.get(ctx, owner, view.transfer.id)
    assert done.status == "failed" and "not deleted" in done.message
    compared = done.items[0].verified["compared"]
    assert compared["mismatch_count"] == 1 and "bytes differ" in compared["mismatches"][0]
    with ctx.db.read() as db:
        assert (
            db.scalar(
                select(func.count(Session.id)).where(Session.project.has(label=archive.source))
            )
            == 1
        )
    assert broken.exists()


def test_into_the_prearchive_the_sessions_wait_for_review(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1", (1, 2))
    projects.update(ctx, SYSTEM, archive.dest, ProjectSettings(upload_destination="prearchive"))
    member = actor_for(users["member"])
    copy = TransferRequest(
        kind=TransferKind.COPY,
        source=archive.source,
        destination=archive.dest,
        sessions=["E1"],
        scans=["2"],
        session_map={"E1": "E1-copy"},
    )
    service.start(ctx, member, copy)
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    with ctx.db.read() as db:
        staged = db.scalar(select(StagedSession))
        assert staged is not None and staged.project_key == archive.dest and staged.hold
        assert (staged.subject, staged.session) == ("S1", "E1-copy")
        spooled = db.scalars(select(Instance).where(Instance.staged_id == staged.id)).all()
        assert len(spooled) == 3
        for inst in spooled:
            assert Path(ctx.store.data_dir / str(inst.spool_path)).is_file()
        assert db.scalar(select(func.count(Session.id))) == 1  # not archived by itself


def test_a_staged_copy_is_archived_like_any_upload(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1", (1, 2))
    projects.update(ctx, SYSTEM, archive.dest, ProjectSettings(upload_destination="prearchive"))
    copy = TransferRequest(
        kind=TransferKind.COPY, source=archive.source, destination=archive.dest, sessions=["E1"]
    )
    service.start(ctx, actor_for(users["member"]), copy)
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    with ctx.db.read() as db:
        staged = db.scalar(select(StagedSession.id))
    r = archive.client.post(f"/api/v1/prearchive/{staged}/archive", auth=archive.actors["owner"])
    assert r.status_code == 200, r.text
    scans = archive.get("sessions/E1/scans").json()["items"]
    assert sorted(s["id"] for s in scans) == ["1", "2"]
    assert check.check(ctx).ok


def test_a_destination_on_another_file_system_fails_clearly_and_keeps_the_source(
    ctx: Context, archive: Archive, users: dict[str, Any], tmp_path: Path
) -> None:
    """Files are hard links within one data folder: a project folder mounted from
    another file system (here a tmpfs) cannot take them, and the move says so."""
    archive.session("S1", "E1", (1,))
    # A folder of its own: test workers share /dev/shm, and their tmp_path names agree.
    elsewhere = Path(tempfile.mkdtemp(prefix="scandepot-", dir="/dev/shm"))
    try:
        (ctx.store.archive / archive.dest).symlink_to(elsewhere)
        owner = actor_for(users["owner"])
        view = service.start(ctx, owner, move(archive, sessions=["E1"]))
        assert run_transfers(ctx) == [JobStatus.FAILED]
        done = service.get(ctx, owner, view.transfer.id)
        assert "cannot be linked from another file system" in done.message
        assert [i.status for i in done.items] == ["pending"]
        assert not any(p.is_file() for p in elsewhere.rglob("*"))
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Session.id))) == 1
