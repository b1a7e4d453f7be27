"""An upload never moves, relabels or removes a session it did not make, never archives a
study a second time under another label, and never ends as a silent no-op: data held
already is named where it is."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import AuditEvent
from scandepot.catalog.archive import Session
from scandepot.catalog.prearchive import StagedSession, Status
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import archiver, builder
from tests.helpers import API
from tests.ingest.test_upload import post, staged_count


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 3600  # only the uploads themselves build
    return make_project("private", label="PILOT", bulk_upload_allowed=True)


def zipped(*studies: Study, per_series: int = 2) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for s_number, study in enumerate(studies):
            for n in range(1, per_series + 1):
                ds = mr_instance(study, SERIES[s_number], n, rows=8, columns=8)
                ds.SOPInstanceUID = f"{study.StudyInstanceUID}.{n}"
                archive.writestr(f"{s_number}/{n}.dcm", to_bytes(ds))
    return out.getvalue()


SERIES = [Series(1, "T1w"), Series(2, "T2w")]


def sessions_count(ctx: Context) -> int:
    with ctx.db.read() as db:
        return int(db.scalar(select(func.count(Session.id))) or 0)


def test_a_reupload_under_new_labels_leaves_a_staged_session_it_did_not_make(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str
) -> None:
    body = zipped(Study(StudyInstanceUID="1.2.3.4.1"))
    first = post(client, project, body, actors["member"], subject="sub-05", session="ses-zip")
    assert first.status_code == 200, first.text
    [staged] = first.json()["sessions"]
    again = post(
        client,
        project,
        body,
        actors["owner"],
        subject="sub-06",
        session="ses-tar",
        destination="archive",
    )
    assert again.status_code == 409, again.text
    message = again.json()["error"]["message"]
    assert f"staged session {staged['staged_id']} (sub-05/ses-zip)" in message
    assert "Nothing was imported" in message
    kept = client.get(f"{API}/prearchive/{staged['staged_id']}", auth=actors["member"])
    assert kept.status_code == 200
    assert (kept.json()["subject"], kept.json()["session"]) == ("sub-05", "ses-zip")
    assert sessions_count(ctx) == 0
    # Without labels, the same files add to the staged session as it is (a resumed upload).
    resumed = post(client, project, body, actors["member"])
    assert resumed.status_code == 200, resumed.text
    assert [s["staged_id"] for s in resumed.json()["sessions"]] == [staged["staged_id"]]
    assert resumed.json()["sessions"][0]["added"] == 0


def test_archived_data_uploaded_again_is_named_where_it_is(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str
) -> None:
    body = zipped(Study(StudyInstanceUID="1.2.3.4.2"))
    done = post(
        client, project, body, actors["owner"], subject="s1", session="e1", destination="archive"
    )
    assert done.status_code == 200, done.text
    session_id = done.json()["sessions"][0]["session_id"]
    # New labels: refused, with the archived session named; nothing changes.
    moved = post(
        client, project, body, actors["owner"], subject="s2", session="e2", destination="archive"
    )
    assert moved.status_code == 409, moved.text
    assert f"archived session {session_id} (s1/e1)" in moved.json()["error"]["message"]
    assert sessions_count(ctx) == 1 and staged_count(ctx) == 0
    # No labels: an answer that says where every file is, not an empty one.
    same = post(client, project, body, actors["owner"], destination="archive")
    assert same.status_code == 200, same.text
    answer = same.json()
    assert answer["sessions"] == []
    assert answer["dicom_bytes"] > 0 and answer["files"] == 2
    [held] = answer["held"]
    assert held["where"] == "archive" and held["session_id"] == session_id
    assert (held["subject"], held["session"], held["files"]) == ("s1", "e1", 2)
    assert client.get(held["url"], auth=actors["owner"]).status_code == 200
    # With its own labels too (no "exists already": nothing would be added).
    own = post(
        client, project, body, actors["owner"], subject="s1", session="e1", destination="archive"
    )
    assert own.status_code == 200, own.text
    assert own.json()["sessions"] == [] and own.json()["held"][0]["session_id"] == session_id


def test_two_studies_to_one_session_label_archive_neither(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str
) -> None:
    route = "xnat://PILOT/sub-01/ses-01"
    body = zipped(
        Study(StudyInstanceUID="1.2.3.4.3", StudyDescription=route),
        Study(StudyInstanceUID="1.2.3.4.4", StudyDescription=route),
    )
    r = post(client, project, body, actors["owner"], destination="archive")
    assert r.status_code == 409, r.text
    assert "would both become session 'ses-01'" in r.json()["error"]["message"]
    assert sessions_count(ctx) == 0 and staged_count(ctx) == 0
    with ctx.db.read() as db:  # refused whole: no archive happened, so none is recorded
        actions = set(db.scalars(select(AuditEvent.action)))
    assert "prearchive.archived" not in actions and "upload.imported" not in actions


def test_a_study_is_not_archived_again_under_another_label(
    ctx: Context, project: str, tmp_path: Path
) -> None:
    """The rule holds on every way in: here a staged session routed (or moved) to another
    label of a project that archived the study already."""
    study = Study(StudyInstanceUID="1.2.3.4.5", StudyDescription="xnat://PILOT/s1/e1")

    def send(n: int, description: str) -> int:
        study.StudyDescription = description
        staged = ctx.store.stage()
        staged.write(to_bytes(mr_instance(study, SERIES[0], n, rows=8, columns=8)))
        got = receive(ctx, staged, Source("dicom"))
        staged.discard()
        assert got.staged_id is not None
        return got.staged_id

    first = send(1, "xnat://PILOT/s1/e1")
    archiver.archive(ctx, SYSTEM, first)
    second = send(2, "xnat://PILOT/s1/e2")
    with ctx.db.write() as db:
        row = db.get(StagedSession, second)
        assert row is not None
        plan = builder.build(db, row)
        assert row.status == Status.CONFLICT
    assert any("archived already" in c and "'e1'" in c for c in plan.conflicts), plan
    with pytest.raises(Exception, match="archived already"):
        archiver.archive(ctx, SYSTEM, second, overwrite=True)
    assert sessions_count(ctx) == 1


def test_an_upload_does_not_archive_or_hold_a_staged_session_it_did_not_make(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str
) -> None:
    body = zipped(Study(StudyInstanceUID="1.2.3.4.6"))
    first = post(client, project, body, actors["member"], subject="sub-05", session="ses-zip")
    assert first.status_code == 200, first.text
    [staged] = first.json()["sessions"]
    # The owner's upload without labels, to the archive: the member's session stays staged.
    r = post(client, project, body, actors["owner"], destination="archive")
    assert r.status_code == 409, r.text
    assert "sent by upload:member" in r.json()["error"]["message"]
    kept = client.get(f"{API}/prearchive/{staged['staged_id']}", auth=actors["member"])
    assert kept.status_code == 200 and kept.json()["session"] == "ses-zip"
    assert sessions_count(ctx) == 0


def test_an_upload_adding_to_a_scanners_session_leaves_it_to_archive_on_its_own(
    ctx: Context, client: TestClient, actors: dict[str, Any], make_project: Callable[..., str]
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    make_project("private", label="AUTO", upload_destination="archive")
    study = Study(StudyInstanceUID="1.2.3.4.7", StudyDescription="xnat://AUTO/s1/e1")
    staged = ctx.store.stage()
    staged.write(to_bytes(mr_instance(study, SERIES[0], 9, rows=8, columns=8)))
    got = receive(ctx, staged, Source("dicom", calling_ae="SCANNER1"))
    staged.discard()
    r = post(client, "AUTO", zipped(study), actors["owner"], destination="prearchive")
    assert r.status_code == 200, r.text
    with ctx.db.read() as db:
        row = db.get(StagedSession, got.staged_id)
        assert row is not None
        assert not row.hold and row.status == Status.RECEIVING  # the builder archives it
        assert row.source == "dicom:SCANNER1"


def test_new_files_of_an_archived_study_under_new_labels_are_refused_before_staging(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str
) -> None:
    study = Study(StudyInstanceUID="1.2.3.4.8")
    first = post(
        client,
        project,
        zipped(study),
        actors["owner"],
        subject="s1",
        session="e1",
        destination="archive",
    )
    assert first.status_code == 200, first.text
    bigger = zipped(study, per_series=3)  # the two archived files and one new
    r = post(
        client,
        project,
        bigger,
        actors["owner"],
        subject="s1",
        session="e9",
        destination="archive",
    )
    assert r.status_code == 409, r.text
    assert "as session 'e1'" in r.json()["error"]["message"]
    assert staged_count(ctx) == 0 and sessions_count(ctx) == 1
