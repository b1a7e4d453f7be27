"""Copies: hard links under the destination's labels, catalogued, verified."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import func, select

from scandepot.access.users import actor_for
from scandepot.catalog.archive import File, Session
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
    report = done.items[0].verified["compared"]
    assert report["ok"] and report["by"] == ["catalog"] and report["files"] == 6
    assert os.listdir(ctx.store.tmp) == [] or all(
        not name.endswith(".journal") for name in os.listdir(ctx.store.tmp)
    )
