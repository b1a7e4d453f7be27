"""De-identified copies (``deidentify``): new files written through the source's export
script into another project, verified by what was written; the originals unchanged."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from sqlalchemy import func, select

from scandepot.access.actors import SYSTEM
from scandepot.access.users import actor_for
from scandepot.archive import projects
from scandepot.archive.projects import ProjectSettings
from scandepot.catalog.access import AuditEvent
from scandepot.catalog.archive import File, Scan, Session
from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.catalog.transfers import TransferKind
from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from scandepot.transfers import service
from scandepot.transfers.requests import Clash, TransferRequest
from tests.export.deid_world import (
    IDENTIFYING,
    import_session,
    save_script,
    stored_files,
    ultrasound,
    use_test_script,
)
from tests.helpers import API
from tests.transfers.conftest import Archive, run_transfers

T = f"{API}/transfers"


@pytest.fixture
def source(
    ctx: Context, archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Study:
    """E1 of S1 in the source: two MR series and a burned-in ultrasound instance; the
    source has an export script."""
    use_test_script(monkeypatch)
    study = Study(PatientName="Smith^John", PatientID="MRN123", AccessionNumber="ACC9")
    owner = archive.actors["owner"]
    import_session(
        archive.client,
        owner,
        tmp_path,
        archive.source,
        "S1",
        "E1",
        study,
        extra=[ultrasound(study)],
    )
    save_script(ctx, archive.source)
    return study


def _request(archive: Archive, **fields: Any) -> TransferRequest:
    asked: dict[str, Any] = {
        "kind": TransferKind.COPY,
        "source": archive.source,
        "destination": archive.dest,
        "sessions": ["E1"],
        "subject_map": {"S1": "PSEUDO01"},
        "deidentify": True,
        **fields,
    }
    return TransferRequest(**asked)


def test_a_deidentified_copy_writes_new_files_and_verifies_them(
    ctx: Context, archive: Archive, users: dict[str, Any], source: Study
) -> None:
    before = stored_files(ctx, archive.source)
    member = actor_for(users["member"])
    plan = service.check(ctx, member, _request(archive))
    assert plan.ok, plan.problems
    assert plan.deidentify
    view = service.start(ctx, member, _request(archive))
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    done = service.get(ctx, member, view.transfer.id)
    assert done.status == "succeeded" and done.verified, done.message
    assert "de-identified" in done.message and "1 instance(s) refused" in done.message
    [item] = done.items
    assert item.files == 6
    assert item.verified["compared"]["ok"] is True
    assert item.verified["compared"]["by"] == ["catalog", "bytes", "instances"]
    [refused] = item.verified["refused"]
    assert (refused["scan"], refused["code"]) == ("9", "burned_in")

    # The originals are as they were; the copies are new files, not links.
    assert stored_files(ctx, archive.source) == before
    with ctx.db.read() as db:
        started = db.scalar(select(AuditEvent).where(AuditEvent.action == "transfer.started"))
        assert started is not None and started.detail["deidentify"] is True
    copies = sorted((ctx.store.archive / archive.dest).rglob("*.dcm"))
    assert len(copies) == 6
    originals = {p.stat().st_ino for p in (ctx.store.archive / archive.source).rglob("*.dcm")}
    studies = set()
    with ctx.db.read() as db:
        catalogued = {f.path: f.sha256 for f in db.scalars(select(File))}
        copied = db.scalar(
            select(Session).where(Session.label == "E1", Session.project.has(label=archive.dest))
        )
        assert copied is not None and copied.subject.label == "PSEUDO01"
        assert copied.PatientName == "PSEUDO01" and copied.PatientID == "PSEUDO01"
        assert copied.AccessionNumber is None and copied.date is None
        assert copied.deid is not None and copied.deid.startswith("export v1 sha256:")
        scans = select(Scan.id).where(Scan.session_id == copied.id)
        held = db.scalar(select(func.count(Instance.id)).where(Instance.scan_id.in_(scans)))
        assert held == 6
    for path in copies:
        assert path.stat().st_ino not in originals
        ds = dcmread(path)
        for keyword in IDENTIFYING:
            assert str(ds.get(keyword, "")) in ("", "PSEUDO01"), keyword
        assert path.name == f"{ds.SOPInstanceUID}.dcm"
        assert catalogued[path.name] == hashlib.sha256(path.read_bytes()).hexdigest()
        studies.add(ds.StudyInstanceUID)
    assert studies == {copied.StudyInstanceUID}
    assert copied.StudyInstanceUID != source.StudyInstanceUID
    # Served like any session of the destination.
    r = archive.get("sessions/E1/scans")
    assert sorted(s["id"] for s in r.json()["items"]) == ["1", "2"]


def test_a_tampered_copy_fails_its_verification(
    ctx: Context,
    archive: Archive,
    users: dict[str, Any],
    source: Study,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The verification reads the written files back: one changed after it was written
    (between the copy and the comparison) fails the transfer."""
    from scandepot.transfers import deid_landing

    landed = deid_landing.into_archive

    def then_tampered(*args: Any) -> Any:
        out = landed(*args)
        victim = sorted((ctx.store.archive / archive.dest).rglob("*.dcm"))[0]
        victim.write_bytes(victim.read_bytes()[:-1] + b"\x01")
        return out

    monkeypatch.setattr(deid_landing, "into_archive", then_tampered)
    view = service.start(ctx, actor_for(users["member"]), _request(archive))
    assert run_transfers(ctx) == [JobStatus.FAILED]
    done = service.get(ctx, actor_for(users["member"]), view.transfer.id)
    assert "Verification failed" in done.message
    [item] = done.items
    assert any("bytes differ" in m for m in item.verified["compared"]["mismatches"])


def test_into_the_prearchive_the_deidentified_study_waits(
    ctx: Context, archive: Archive, users: dict[str, Any], source: Study
) -> None:
    projects.update(ctx, SYSTEM, archive.dest, ProjectSettings(upload_destination="prearchive"))
    view = service.start(ctx, actor_for(users["member"]), _request(archive, scans=["2"]))
    assert run_transfers(ctx) == [JobStatus.SUCCEEDED]
    done = service.get(ctx, actor_for(users["member"]), view.transfer.id)
    assert done.verified, done.message
    with ctx.db.read() as db:
        staged = db.scalar(select(StagedSession))
        assert staged is not None and staged.hold and staged.project_key == archive.dest
        assert staged.StudyInstanceUID != source.StudyInstanceUID
        assert staged.PatientName == "PSEUDO01"
        spooled = db.scalars(select(Instance).where(Instance.staged_id == staged.id)).all()
    assert len(spooled) == 3
    for inst in spooled:
        ds = dcmread(ctx.store.data_dir / str(inst.spool_path))
        assert ds.SOPInstanceUID == inst.SOPInstanceUID and str(ds.PatientName) == "PSEUDO01"
    r = archive.client.post(f"/api/v1/prearchive/{staged.id}/archive", auth=archive.actors["owner"])
    assert r.status_code == 200, r.text
    assert [s["id"] for s in archive.get("sessions/E1/scans").json()["items"]] == ["2"]


def test_what_a_deidentified_copy_refuses(
    ctx: Context, archive: Archive, users: dict[str, Any], source: Study, tmp_path: Path
) -> None:
    owner = actor_for(users["owner"])
    codes = lambda plan: [(p.code, p.message) for p in plan.problems]  # noqa: E731
    move = service.check(ctx, owner, _request(archive, kind=TransferKind.MOVE))
    assert any(c == "deid" and "originals would be kept nowhere" in m for c, m in codes(move))
    with_resources = service.check(ctx, owner, _request(archive, with_resources=True))
    assert any(c == "deid" and "with_resources" in m for c, m in codes(with_resources))
    # A session of that label in the destination: a merge is refused, a skip is not.
    burned = service.check(ctx, owner, _request(archive, deidentify=False, allow_burned_in=True))
    assert [c for c, _m in codes(burned)] == ["deid"]
    auth = archive.actors["owner"]
    import_session(archive.client, auth, tmp_path, archive.dest, "PSEUDO01", "E1", Study())
    merge = service.check(ctx, owner, _request(archive, on_clash=Clash.MERGE))
    assert any(c == "deid" and "cannot be merged" in m for c, m in codes(merge))
    assert service.check(ctx, owner, _request(archive, on_clash=Clash.SKIP)).ok
    # Without an export script in the source.
    r = archive.client.post(
        T,
        json={
            "kind": "copy",
            "source": archive.dest,
            "destination": archive.source,
            "sessions": ["E1"],
            "session_map": {"E1": "E9"},
            "deidentify": True,
        },
        auth=archive.actors["owner"],
    )
    assert r.status_code == 409, r.text
    assert "no export de-identification script" in r.text
