"""Copies: hard links under the destination's labels, catalogued, verified."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import func, select

from scandepot.access.users import actor_for
from scandepot.catalog.archive import File, Session
from scandepot.catalog.journal import EventRecord
from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.transfers import Transfer, TransferKind
from scandepot.context import Context
from scandepot.transfers import service
from scandepot.transfers.requests import TransferRequest
from tests.transfers.conftest import Archive, run_transfers


def _files(ctx: Context, project: str, session: str) -> dict[str, tuple[int, str, int]]:
    """path below the session folder -> (size, sha256, inode)"""
    root = ctx.store.archive / project
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and f"/sessions/{session}/" in str(path):
            rel = str(path).split(f"/sessions/{session}/", 1)[1]
            found[rel] = (path.stat().st_size, path.read_bytes().hex()[:16], path.stat().st_ino)
    return found


def test_copy_with_mapping_links_catalogues_and_verifies(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1")
    archive.session("S2", "E2", (1, 3))
    owner = actor_for(users["owner"])
    request = TransferRequest(
        kind=TransferKind.COPY,
        source=archive.source,
        destination=archive.dest,
        sessions=["E1", "E2"],
        subject_map={"S1": "SUB-A"},
        session_rule="{subject}_{label}",
    )
    plan = service.check(ctx, owner, request)
    assert plan.ok, plan.problems
    assert [(p.dest_subject, p.dest_session) for p in plan.sessions] == [
        ("SUB-A", "SUB-A_E1"),
        ("S2", "S2_E2"),
    ]
    assert plan.files == 12
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Transfer.id))) == 0  # the check wrote nothing

    view = service.start(ctx, owner, request)
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    done = service.get(ctx, owner, view.transfer.id)
    assert done.status == "succeeded" and done.verified, done.message
    assert done.transfer.files_done == 12
    before = _files(ctx, archive.source, "E1")
    after = _files(ctx, archive.dest, "SUB-A_E1")
    assert before.keys() == after.keys() and len(after) == 6
    for rel, (size, head, inode) in before.items():
        assert after[rel] == (size, head, inode)  # the same file: a hard link
    with ctx.db.read() as db:
        copied = db.scalar(select(Session).where(Session.label == "SUB-A_E1"))
        assert copied is not None and copied.project.label == archive.dest
        assert copied.subject.label == "SUB-A"
        source = db.scalar(select(Session).where(Session.label == "E1"))
        assert source is not None and copied.StudyInstanceUID == source.StudyInstanceUID
        assert copied.stable_id != source.stable_id
        instances = db.scalar(select(func.count(Instance.id)).where(Instance.scan_id.is_not(None)))
        assert instances == 24  # 12 in each project
        assert db.scalar(select(func.count(File.id))) == 24
    with ctx.db.read() as db:
        told = db.scalars(select(EventRecord).where(EventRecord.kind == "SessionArchived")).all()
    # Each copy journalled as an archived session of the destination, with the import's
    # two of the source: notifications and webhooks hear of it as of any archive.
    arrived = sorted(r.payload["session"] for r in told if r.project == archive.dest)
    assert arrived == ["S2_E2", "SUB-A_E1"]
    assert {r.payload["source"] for r in told if r.project == archive.dest} == {
        f"transfer:{archive.source}"
    }
    report = done.items[0].verified["compared"]
    assert report["ok"] and report["by"] == ["catalog"] and report["files"] == 6
    assert os.listdir(ctx.store.tmp) == [] or all(
        not name.endswith(".journal") for name in os.listdir(ctx.store.tmp)
    )


def _copy(ctx: Context, archive: Archive, owner: Any, **fields: Any) -> service.TransferView:
    values: dict[str, Any] = {
        "kind": TransferKind.COPY,
        "source": archive.source,
        "destination": archive.dest,
        "sessions": ["E1"],
    }
    values.update(fields)
    view = service.start(ctx, owner, TransferRequest(**values))
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    return service.get(ctx, owner, view.transfer.id)


def _dest_files(ctx: Context, archive: Archive) -> list[str]:
    root = ctx.store.archive / archive.dest
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_resources_only_when_asked_and_scans_by_number_or_type(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    archive.session("S1", "E1", (1, 2, 3))
    archive.put("sessions/E1/resources/QA/files/report.txt", b"qa")
    archive.put("sessions/E1/scans/1/resources/NIFTI/files/t1.nii.gz", b"nifti")
    archive.put("resources/PROTOCOL/files/protocol.pdf", b"the protocol")
    owner = actor_for(users["owner"])
    bare = _copy(ctx, archive, owner, scans=["1", "series 3"], session_map={"E1": "BARE"})
    assert bare.items[0].verified["copied"] == ["scan 1:DICOM", "scan 3:DICOM"]
    files = _dest_files(ctx, archive)
    assert len(files) == 6 and all("/resources/DICOM/files/" in f for f in files)
    full = _copy(ctx, archive, owner, with_resources=True, session_map={"E1": "FULL"})
    assert sorted(full.items[0].verified["copied"]) == [
        "scan 1:DICOM",
        "scan 1:NIFTI",
        "scan 2:DICOM",
        "scan 3:DICOM",
        "session:QA",
    ]
    qa = archive.get("sessions/FULL/resources/QA/files/report.txt")
    assert qa.status_code == 200 and qa.content == b"qa"
    # The project's own resources come with the first copy that asks for resources.
    assert "project:PROTOCOL" not in bare.transfer.report.get("project_resources", {})
    project = full.transfer.report["project_resources"]
    assert project["copied"] == ["project:PROTOCOL"] and project["compared"]["ok"]
    protocol = archive.get("resources/PROTOCOL/files/protocol.pdf")
    assert protocol.status_code == 200 and protocol.content == b"the protocol"
    again = _copy(ctx, archive, owner, with_resources=True, session_map={"E1": "AGAIN"})
    assert again.transfer.report["project_resources"]["left_out"] == [
        "project resource PROTOCOL (one of that label is there)"
    ]


def test_merge_adds_scans_to_the_session_of_the_same_study(
    ctx: Context, archive: Archive, users: dict[str, Any]
) -> None:
    study = archive.session("S1", "E1", (1, 2))
    archive.session("S1", "E1", (7,), project=archive.dest, study=study)
    owner = actor_for(users["owner"])
    done = _copy(ctx, archive, owner, on_clash="merge")
    assert done.verified and done.items[0].verified["compared"]["files"] == 6
    scans = archive.get("sessions/E1/scans").json()["items"]
    assert sorted(s["id"] for s in scans) == ["1", "2", "7"]
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Session.id))) == 2  # one in each project
