"""From storescu to the archive: routing, auto-archive, merges, conflicts, filters."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydicom import dcmread
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.check import check
from scandepot.archive.projects import ProjectSettings
from scandepot.catalog.prearchive import UNASSIGNED, StagedSession, Status
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.events import SessionArchived, SessionNeedsAttention
from scandepot.prearchive import archiver, worker
from tests.helpers import ADMIN, API, write_study

pytestmark = pytest.mark.interop

Send = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 0
    return make_project("private", label="PILOT", upload_destination="archive")


@pytest.fixture
def events(ctx: Context) -> list[Any]:
    seen: list[Any] = []
    ctx.events.subscribe(SessionArchived, seen.append)
    ctx.events.subscribe(SessionNeedsAttention, seen.append)
    return seen


def build(ctx: Context) -> None:
    assert worker.run_once(ctx) >= 1


def staged(ctx: Context) -> list[StagedSession]:
    with ctx.db.read() as db:
        return list(db.scalars(select(StagedSession).order_by(StagedSession.id)))


def scans_of(client: TestClient, session: str) -> dict[str, Any]:
    r = client.get(f"{API}/projects/PILOT/sessions/{session}/scans", auth=ADMIN)
    assert r.status_code == 200, r.text
    return {s["id"]: s for s in r.json()["items"]}


@pytest.mark.parametrize(
    ("study", "called", "subject", "session"),
    [
        (Study(StudyDescription="xnat://PILOT/sub-01/ses-01"), "SCANDEPOT", "sub-01", "ses-01"),
        (
            Study(PatientComments="Project: PILOT Subject: sub-02 Session: ses-02"),
            "SCANDEPOT",
            "sub-02",
            "ses-02",
        ),
        (Study(StudyComments="Project: PILOT Session: ses-03"), "SCANDEPOT", "Doe_Jane", "ses-03"),
        (Study(PatientName="Smith^John", PatientID="ID 77"), "MRI_PILOT", "Smith_John", "ID_77"),
    ],
)
def test_each_routing_rule_ends_in_the_archive(
    ctx: Context,
    pilot: str,
    storescu: Send,
    client: TestClient,
    events: list[Any],
    tmp_path: Path,
    study: Study,
    called: str,
    subject: str,
    session: str,
) -> None:
    files = write_study(tmp_path / "in", study, [Series(1, "T1w"), Series(2, "rest BOLD")])
    assert storescu(*files, called=called).returncode == 0
    build(ctx)
    assert staged(ctx) == []
    r = client.get(f"{API}/projects/PILOT/sessions/{session}", auth=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"] == subject
    assert body["StudyInstanceUID"] == study.StudyInstanceUID
    assert body["date"] == "2024-03-01" and body["modality"] == "MR"
    scans = scans_of(client, session)
    assert set(scans) == {"1", "2"} and scans["2"]["type"] == "rest BOLD"
    dicom = client.get(
        f"{API}/projects/PILOT/sessions/{session}/scans/1/resources/DICOM/files", auth=ADMIN
    ).json()
    assert dicom["total"] == 3
    assert [e for e in events if isinstance(e, SessionArchived)][0].session == session
    assert check(ctx).ok
    assert not (ctx.store.data_dir / "prearchive").exists() or not any(
        (ctx.store.data_dir / "prearchive").iterdir()
    )


def test_unrouted_data_waits(
    ctx: Context, pilot: str, storescu: Send, events: list[Any], tmp_path: Path
) -> None:
    files = write_study(tmp_path / "in", Study(), [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    build(ctx)
    [waiting] = staged(ctx)
    assert waiting.project_key == UNASSIGNED and waiting.status == Status.READY
    assert any(isinstance(e, SessionNeedsAttention) for e in events)


def test_routing_to_a_missing_project_is_flagged(
    ctx: Context, pilot: str, storescu: Send, tmp_path: Path
) -> None:
    files = write_study(
        tmp_path / "in", Study(StudyDescription="xnat://NOPE/s/e"), [Series(1, "T1w")]
    )
    assert storescu(*files).returncode == 0
    [waiting] = staged(ctx)
    assert waiting.project_key == UNASSIGNED
    assert "Project 'NOPE' does not exist." in waiting.problems


def test_routing_finds_the_project_ignoring_case(
    ctx: Context, pilot: str, storescu: Send, client: TestClient, tmp_path: Path
) -> None:
    study = Study(StudyDescription="xnat://pilot/sub 01/ses-01")
    files = write_study(tmp_path / "in", study, [Series(1, "T1w")])
    assert storescu(*files).returncode == 0
    [arrived] = staged(ctx)
    assert arrived.project_key == "PILOT"  # on arrival, not only once built
    build(ctx)
    assert staged(ctx) == []
    r = client.get(f"{API}/projects/PILOT/sessions/ses-01", auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "sub_01"


def test_review_projects_keep_sessions_ready(
    ctx: Context, make_project: Callable[..., str], storescu: Send, tmp_path: Path
) -> None:
    ctx.settings.prearchive_quiet_s = 0
    make_project("private", label="PILOT")  # upload destination: prearchive (review)
    files = write_study(
        tmp_path / "in", Study(StudyDescription="xnat://PILOT/s1/e1"), [Series(1, "T1w")]
    )
    assert storescu(*files).returncode == 0
    build(ctx)
    [ready] = staged(ctx)
    assert ready.status == Status.READY and ready.scans[0]["files"] == 3
    done = archiver.archive(ctx, SYSTEM, ready.id)
    assert (done.session, done.files) == ("e1", 3)


def test_merge_adds_new_scans_to_the_same_study(
    ctx: Context, pilot: str, storescu: Send, client: TestClient, tmp_path: Path
) -> None:
    study = Study(StudyDescription="xnat://PILOT/s1/e1")
    first = write_study(tmp_path / "a", study, [Series(1, "T1w")])
    assert storescu(*first).returncode == 0
    build(ctx)
    assert storescu(*write_study(tmp_path / "b", study, [Series(2, "T2w")])).returncode == 0
    build(ctx)
    assert set(scans_of(client, "e1")) == {"1", "2"}
    # Sending the first series again adds nothing.
    assert storescu(*first).returncode == 0
    assert staged(ctx) == []
    assert check(ctx).ok


def test_another_study_under_a_taken_label_is_a_conflict(
    ctx: Context, pilot: str, storescu: Send, events: list[Any], tmp_path: Path
) -> None:
    first = Study(StudyDescription="xnat://PILOT/s1/e1")
    second = Study(StudyDescription="xnat://PILOT/s1/e1")  # other StudyInstanceUID
    assert storescu(*write_study(tmp_path / "a", first, [Series(1, "T1w")])).returncode == 0
    build(ctx)
    assert storescu(*write_study(tmp_path / "b", second, [Series(1, "T1w")])).returncode == 0
    build(ctx)
    [conflict] = staged(ctx)
    assert conflict.status == Status.CONFLICT
    assert "Invalid modification of session UID" in conflict.problems
    assert any(isinstance(e, SessionNeedsAttention) for e in events)


def test_routing_labels_differing_only_in_case_name_the_same_session(
    ctx: Context, pilot: str, storescu: Send, client: TestClient, tmp_path: Path
) -> None:
    study = Study(StudyDescription="xnat://PILOT/s1/e1")
    assert storescu(*write_study(tmp_path / "a", study, [Series(1, "T1w")])).returncode == 0
    build(ctx)
    shouted = dataclasses.replace(study, StudyDescription="xnat://PILOT/S1/E1")
    assert storescu(*write_study(tmp_path / "b", shouted, [Series(2, "T2w")])).returncode == 0
    build(ctx)
    assert set(scans_of(client, "e1")) == {"1", "2"}
    listed = client.get(f"{API}/projects/PILOT/sessions", auth=ADMIN).json()["items"]
    assert [s["label"] for s in listed] == ["e1"]
    # Another study under the same label in other case is the usual conflict.
    other = Study(StudyDescription="xnat://PILOT/S1/E1")
    assert storescu(*write_study(tmp_path / "c", other, [Series(3, "T1w")])).returncode == 0
    build(ctx)
    [conflict] = staged(ctx)
    assert conflict.status == Status.CONFLICT
    assert "Invalid modification of session UID" in conflict.problems
    assert check(ctx).ok


def test_a_scan_number_held_by_another_series_is_a_conflict(
    ctx: Context, pilot: str, storescu: Send, tmp_path: Path
) -> None:
    study = Study(StudyDescription="xnat://PILOT/s1/e1")
    assert storescu(*write_study(tmp_path / "a", study, [Series(1, "T1w")])).returncode == 0
    build(ctx)
    other = Series(1, "T1w repeat")  # same number, new SeriesInstanceUID
    assert storescu(*write_study(tmp_path / "b", study, [other])).returncode == 0
    build(ctx)
    [conflict] = staged(ctx)
    assert conflict.status == Status.CONFLICT
    assert any("Scan 1 exists with Series Instance UID" in p for p in conflict.problems)


def test_overwrite_replaces_and_reports(
    ctx: Context, pilot: str, storescu: Send, client: TestClient, tmp_path: Path
) -> None:
    study, series = Study(StudyDescription="xnat://PILOT/s1/e1"), Series(1, "T1w")
    one = mr_instance(study, series, 1, rows=16, columns=16, seed=1)
    one.save_as(tmp_path / "v1.dcm", enforce_file_format=True)
    assert storescu(tmp_path / "v1.dcm").returncode == 0
    build(ctx)
    changed = mr_instance(
        study, series, 1, rows=16, columns=16, seed=9, SOPInstanceUID=one.SOPInstanceUID
    )
    changed.save_as(tmp_path / "v2.dcm", enforce_file_format=True)
    assert storescu(tmp_path / "v2.dcm").returncode == 0
    build(ctx)  # auto-archive without overwrite keeps what is archived
    url = f"{API}/projects/PILOT/sessions/e1/scans/1/resources/DICOM/files/{one.SOPInstanceUID}.dcm"
    kept = client.get(url, auth=ADMIN).content
    assert dcmread(BytesIO(kept)).PixelData == one.PixelData  # the archived copy stays
    projects.update(ctx, SYSTEM, "PILOT", ProjectSettings(upload_destination="archive-overwrite"))
    changed2 = mr_instance(
        study, series, 1, rows=16, columns=16, seed=10, SOPInstanceUID=one.SOPInstanceUID
    )
    changed2.save_as(tmp_path / "v3.dcm", enforce_file_format=True)
    for leftover in staged(ctx):
        with ctx.db.write() as db:
            db.delete(db.get(StagedSession, leftover.id))
    assert storescu(tmp_path / "v3.dcm").returncode == 0
    build(ctx)
    replaced = client.get(url, auth=ADMIN).content
    assert dcmread(BytesIO(replaced)).PixelData == changed2.PixelData
    assert check(ctx).ok


def test_series_filter_leaves_out_and_reports(
    ctx: Context, pilot: str, storescu: Send, client: TestClient, tmp_path: Path
) -> None:
    projects.update(
        ctx,
        SYSTEM,
        "PILOT",
        ProjectSettings(series_filter_mode="deny", series_filter=["(?i)localizer"]),
    )
    study = Study(StudyDescription="xnat://PILOT/s1/e1")
    files = write_study(tmp_path / "a", study, [Series(1, "Localizer"), Series(2, "T1w")])
    assert storescu(*files).returncode == 0
    result_holder: list[Any] = []
    ctx.events.subscribe(SessionArchived, result_holder.append)
    build(ctx)
    assert set(scans_of(client, "e1")) == {"2"}
    assert result_holder and result_holder[0].scans == ("2",)
    assert check(ctx).ok


def test_conflict_policy_replace_overwrites_differing_files(
    ctx: Context, pilot: str, storescu: Send, client: TestClient, tmp_path: Path
) -> None:
    projects.update(ctx, SYSTEM, "PILOT", ProjectSettings(conflict_policy="replace"))
    study, series = Study(StudyDescription="xnat://PILOT/s1/e1"), Series(1, "T1w")
    first = mr_instance(study, series, 1, rows=16, columns=16, seed=1)
    first.save_as(tmp_path / "v1.dcm", enforce_file_format=True)
    assert storescu(tmp_path / "v1.dcm").returncode == 0
    build(ctx)
    second = mr_instance(
        study, series, 1, rows=16, columns=16, seed=2, SOPInstanceUID=first.SOPInstanceUID
    )
    second.save_as(tmp_path / "v2.dcm", enforce_file_format=True)
    assert storescu(tmp_path / "v2.dcm").returncode == 0
    build(ctx)
    url = (
        f"{API}/projects/PILOT/sessions/e1/scans/1/resources/DICOM/files/{first.SOPInstanceUID}.dcm"
    )
    assert dcmread(BytesIO(client.get(url, auth=ADMIN).content)).PixelData == second.PixelData
    assert check(ctx).ok
