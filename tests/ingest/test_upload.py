"""Importing zip, tar and tar.gz files through POST /api/v1/projects/{p}/import.

Archives are made with the standard tools (zip, tar) from real Part 10 files.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scandepot.catalog.archive import File, Session
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.prearchive import worker
from tests.helpers import API, after_archive, write_study

Client = TestClient


def zip_dir(folder: Path, out: Path, *extra: str) -> bytes:
    subprocess.run(["zip", "-qr", *extra, str(out), "."], cwd=folder, check=True)
    return out.read_bytes()


def tar_dir(folder: Path, out: Path, flags: str = "czf") -> bytes:
    subprocess.run(["tar", flags, str(out), "-C", str(folder), "."], check=True)
    return out.read_bytes()


def staged_count(ctx: Context) -> int:
    with ctx.db.read() as db:
        return int(db.scalar(select(func.count(StagedSession.id))) or 0)


def nothing_left(ctx: Context) -> None:
    """Nothing staged, nothing archived, no temporary file left behind."""
    assert staged_count(ctx) == 0
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(Instance.id))) == 0
        assert db.scalar(select(func.count(Session.id))) == 0
    assert list(ctx.store.tmp.iterdir()) == []


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 3600  # only the upload itself builds
    return make_project("private", label="PILOT")


@pytest.fixture
def study_dir(tmp_path: Path) -> tuple[Path, Study]:
    """One study of two series in nested folders, with a text file beside the DICOM."""
    study = Study(PatientName="Doe^Jane", PatientID="SESS01")
    root = tmp_path / "src"
    write_study(root / "a" / "b", study, [Series(1, "T1w")], per_series=3)
    write_study(root / "c", study, [Series(2, "T2w")], per_series=2)
    (root / "c" / "notes.txt").write_text("scanned on a Tuesday\n")
    return root, study


def post(client: Client, project: str, body: bytes, auth: Any, **params: Any) -> Any:
    return client.post(f"{API}/projects/{project}/import", content=body, params=params, auth=auth)


def test_zip_with_other_files_is_refused_unless_told_to_skip_them(
    ctx: Context,
    client: Client,
    actors: dict[str, Any],
    project: str,
    study_dir: Any,
    tmp_path: Path,
) -> None:
    root, study = study_dir
    body = zip_dir(root, tmp_path / "up.zip")
    r = post(client, project, body, actors["member"])
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "not DICOM" in error["message"]
    assert [d["name"] for d in error["details"]] == ["c/notes.txt"]
    nothing_left(ctx)

    r = post(client, project, body, actors["member"], ignore_unparsable="true")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["files"] == 5 and out["destination"] == "prearchive"
    assert [s["name"] for s in out["skipped"]] == ["c/notes.txt"]
    [session] = out["sessions"]
    assert session["StudyInstanceUID"] == study.StudyInstanceUID
    assert session["status"] == "READY" and session["added"] == 5
    assert (session["subject"], session["session"]) == ("Doe_Jane", "SESS01")
    assert [(s["id"], s["files"]) for s in session["scans"]] == [("1", 3), ("2", 2)]
    staged = client.get(session["url"], auth=actors["member"]).json()
    assert staged["files"] == 5 and staged["status"] == "READY"
    assert list(ctx.store.tmp.iterdir()) == []
    # Held for review even though the builder runs: it builds, never archives it.
    ctx.settings.prearchive_quiet_s = 0
    worker.run_once(ctx)
    assert staged_count(ctx) == 1


@pytest.mark.parametrize(("flags", "name"), [("cf", "up.tar"), ("czf", "up.tgz")])
def test_tar_and_tgz_with_given_labels_into_the_archive(
    ctx: Context,
    client: Client,
    actors: dict[str, Any],
    project: str,
    tmp_path: Path,
    flags: str,
    name: str,
) -> None:
    study = Study(PatientID="IGNORED")
    root = tmp_path / "src"
    write_study(root / "deep" / "er", study, [Series(3, "DWI")], per_series=4)
    body = tar_dir(root, tmp_path / name, flags)
    r = post(
        client,
        project,
        body,
        actors["owner"],
        subject="sub-01",
        session="ses-01",
        destination="archive",
    )
    assert r.status_code == 200, r.text
    [session] = r.json()["sessions"]
    assert session["status"] == "archived" and session["session_id"].startswith("SD_E")
    assert session["url"] == f"{API}/projects/{project}/sessions/ses-01"
    got = client.get(session["url"], auth=actors["owner"]).json()
    assert got["subject"] == "sub-01" and got["StudyInstanceUID"] == study.StudyInstanceUID
    files = client.get(
        f"{API}/projects/{project}/sessions/ses-01/scans/3/resources/DICOM/files",
        auth=actors["owner"],
    ).json()
    assert files["total"] == 4
    after_archive(client.app)  # the picture and metadata are made after the archive
    assert staged_count(ctx) == 0 and list(ctx.store.tmp.iterdir()) == []


def test_dicomdir_and_system_files_are_skipped(
    ctx: Context, client: Client, actors: dict[str, Any], project: str, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    study, series = Study(), Series(1, "T1w")
    (media / "DICOM").mkdir(parents=True)
    for number in (1, 2):  # media file IDs: at most 8 upper-case characters
        ds = mr_instance(study, series, number, rows=32, columns=32)
        ds.save_as(media / "DICOM" / f"IM{number:06d}", enforce_file_format=True)
    subprocess.run(["dcmmkdir", "+r", "DICOM"], cwd=media, check=True, capture_output=True)
    (media / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (media / "__MACOSX").mkdir()
    (media / "__MACOSX" / "._DICOMDIR").write_bytes(b"\x00\x05\x16\x07")
    assert (media / "DICOMDIR").exists()
    r = post(client, project, zip_dir(media, tmp_path / "cd.zip"), actors["member"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["files"] == 2
    reasons = {s["name"]: s["reason"] for s in out["skipped"]}
    assert "DICOMDIR" in reasons["DICOMDIR"]
    assert set(reasons) == {"DICOMDIR", ".DS_Store", "__MACOSX/._DICOMDIR"}


def test_several_sessions_in_one_archive(
    ctx: Context,
    client: Client,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    project: str,
    tmp_path: Path,
) -> None:
    root = tmp_path / "two"
    write_study(root / "one", Study(PatientID="S1"), [Series(1, "T1w")], per_series=2)
    write_study(root / "two", Study(PatientID="S2"), [Series(1, "T1w")], per_series=2)
    body = tar_dir(root, tmp_path / "two.tgz")
    r = post(client, project, body, actors["member"])
    assert r.status_code == 200, r.text
    assert sorted(s["session"] for s in r.json()["sessions"]) == ["S1", "S2"]
    # One session label cannot name two studies.
    r = post(client, project, body, actors["member"], session="ses-01")
    assert r.status_code == 422 and r.json()["error"]["field"] == "session"
    # A project that forbids bulk uploads takes one session per upload.
    single = make_project("private", label="SINGLE", bulk_upload_allowed=False)
    r = post(client, single, body, actors["member"])
    assert r.status_code == 422 and "bulk" in r.json()["error"]["message"]
    assert staged_count(ctx) == 2  # those of the first upload only


def test_subject_creation_and_series_filter_are_respected(
    ctx: Context,
    client: Client,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    label = make_project(
        "private",
        label="STRICT",
        allow_subject_creation=False,
        series_filter_mode="deny",
        series_filter=["^localizer"],
    )
    root = tmp_path / "in"
    write_study(root, Study(), [Series(1, "localizer"), Series(2, "T1w")], per_series=2)
    body = zip_dir(root, tmp_path / "in.zip")
    r = post(client, label, body, actors["member"], subject="new-subject")
    assert r.status_code == 422, r.text
    assert "does not allow creating subjects" in r.json()["error"]["message"]
    assert staged_count(ctx) == 0
    client.post(f"{API}/projects/{label}/subjects", json={"label": "known"}, auth=actors["owner"])
    r = post(client, label, body, actors["member"], subject="known")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["files"] == 2
    assert sum("series filter" in s["reason"] for s in out["skipped"]) == 2
    assert [s["id"] for s in out["sessions"][0]["scans"]] == ["2"]


def _archive_once(client: Client, project: str, root: Path, out: Path, auth: Any, **kw: Any) -> Any:
    return post(
        client,
        project,
        zip_dir(root, out),
        auth,
        subject="sub-01",
        session="ses-01",
        destination="archive",
        **kw,
    )


def _archive_first_series(client: Client, project: str, owner: Any, tmp_path: Path) -> Path:
    """Archive series 1 of a study as sub-01/ses-01; return a folder with its series 2."""
    study = Study()
    first, second = tmp_path / "first", tmp_path / "second"
    write_study(first, study, [Series(1, "T1w")], per_series=2)
    write_study(second, study, [Series(2, "T2w")], per_series=3)
    assert _archive_once(client, project, first, tmp_path / "1.zip", owner).status_code == 200
    return second


def test_overwrite_none_append_and_delete(
    ctx: Context, client: Client, actors: dict[str, Any], project: str, tmp_path: Path
) -> None:
    owner = actors["owner"]
    second = _archive_first_series(client, project, owner, tmp_path)

    r = _archive_once(client, project, second, tmp_path / "2.zip", owner)
    assert r.status_code == 409, r.text
    assert "exists already" in r.json()["error"]["message"]
    assert staged_count(ctx) == 0

    scans = f"{API}/projects/{project}/sessions/ses-01/scans"
    r = _archive_once(client, project, second, tmp_path / "3.zip", owner, overwrite="append")
    assert r.status_code == 200, r.text
    assert [s["id"] for s in client.get(scans, auth=owner).json()["items"]] == ["1", "2"]

    # Only owners may replace a session; members are refused before any byte is read.
    r = _archive_once(
        client, project, second, tmp_path / "4.zip", actors["member"], overwrite="delete"
    )
    assert r.status_code == 403
    r = _archive_once(client, project, second, tmp_path / "5.zip", owner, overwrite="delete")
    assert r.status_code == 200, r.text
    assert [s["id"] for s in client.get(scans, auth=owner).json()["items"]] == ["2"]
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(File.id))) == 3
    assert staged_count(ctx) == 0


def test_labels_differing_only_in_case_name_the_same_session(
    ctx: Context, client: Client, actors: dict[str, Any], project: str, tmp_path: Path
) -> None:
    """Labels are unique ignoring case (they name folders): an upload for SES-01 beside an
    archived ses-01 is for that session, under every overwrite mode."""
    owner = actors["owner"]
    second = _archive_first_series(client, project, owner, tmp_path)

    def upload(name: str, **kw: Any) -> Any:
        body = zip_dir(second, tmp_path / name)
        labels = {"subject": "SUB-01", "session": "SES-01"}
        return post(client, project, body, owner, destination="archive", **labels, **kw)

    r = upload("2.zip")
    assert r.status_code == 409 and "exists already" in r.json()["error"]["message"]
    assert upload("3.zip", overwrite="append").status_code == 200
    sessions = client.get(f"{API}/projects/{project}/sessions", auth=owner).json()["items"]
    assert [s["label"] for s in sessions] == ["ses-01"]
    subjects = client.get(f"{API}/projects/{project}/subjects", auth=owner).json()["items"]
    assert [s["label"] for s in subjects] == ["sub-01"]
    scans = f"{API}/projects/{project}/sessions/ses-01/scans"
    assert [s["id"] for s in client.get(scans, auth=owner).json()["items"]] == ["1", "2"]
    # delete replaces the session: the new one has the label given.
    assert upload("4.zip", overwrite="delete").status_code == 200
    sessions = client.get(f"{API}/projects/{project}/sessions", auth=owner).json()["items"]
    assert [s["label"] for s in sessions] == ["SES-01"]
    scans = f"{API}/projects/{project}/sessions/SES-01/scans"
    assert [s["id"] for s in client.get(scans, auth=owner).json()["items"]] == ["2"]
    assert staged_count(ctx) == 0


def test_members_may_not_archive_into_a_reviewed_project(
    ctx: Context,
    client: Client,
    actors: dict[str, Any],
    project: str,
    study_dir: Any,
    tmp_path: Path,
) -> None:
    root, _ = study_dir
    (root / "c" / "notes.txt").unlink()
    body = zip_dir(root, tmp_path / "m.zip")
    r = post(client, project, body, actors["member"], destination="archive")
    assert r.status_code == 403
    nothing_left(ctx)


def test_held_names_what_need_not_be_sent_again(
    ctx: Context, client: Client, actors: dict[str, Any], project: str, tmp_path: Path
) -> None:
    root = tmp_path / "in"
    paths = write_study(root, Study(), [Series(1, "T1w")], per_series=3)
    # Send two of the three.
    half = tmp_path / "half"
    half.mkdir()
    for path in paths[:2]:
        (half / path.name).write_bytes(path.read_bytes())
    assert post(client, project, zip_dir(half, tmp_path / "h.zip"), actors["member"]).is_success

    from pydicom import dcmread

    query = [
        {
            "SOPInstanceUID": dcmread(p).SOPInstanceUID,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        }
        for p in paths
    ]
    query.append({"SOPInstanceUID": query[0]["SOPInstanceUID"], "sha256": "0" * 64})
    url = f"{API}/projects/{project}/held"
    r = client.post(url, json={"instances": query}, auth=actors["member"])
    assert r.status_code == 200, r.text
    held = r.json()["held"]
    assert {h["SOPInstanceUID"] for h in held} == {q["SOPInstanceUID"] for q in query[:2]}
    assert all(h["where"].startswith("prearchive:") for h in held)
    assert (
        client.post(url, json={"instances": query}, auth=actors["collaborator"]).status_code == 403
    )
    assert client.post(url, json={"instances": query}, auth=actors["outsider"]).status_code == 404


@pytest.mark.parametrize("fmt", ["zip", "tar", "tar.gz"])
def test_a_download_of_scandepot_imports_again(
    ctx: Context,
    client: Client,
    actors: dict[str, Any],
    project: str,
    make_project: Callable[..., str],
    tmp_path: Path,
    fmt: str,
) -> None:
    """Its own manifests are recognised, not refused as unparsable, and check the bytes."""
    owner = actors["owner"]
    root = tmp_path / "src"
    write_study(root, Study(), [Series(1, "T1w")], per_series=3)
    r = post(
        client,
        project,
        tar_dir(root, tmp_path / "up.tgz"),
        owner,
        subject="s1",
        session="e1",
        destination="archive",
    )
    assert r.status_code == 200, r.text
    url = f"{API}/projects/{project}/sessions/e1/download"
    download = client.get(url, params={"format": fmt}, auth=owner)
    assert download.status_code == 200, download.text
    other = make_project("private", label="COPY")
    r = post(
        client, other, download.content, owner, subject="s1", session="e1", destination="archive"
    )
    assert r.status_code == 200, r.text
    assert r.json()["files"] == 3 and r.json()["skipped"] == []
    if fmt == "zip":
        return
    # A member whose bytes differ from what the manifest lists refuses the archive.
    out, flipped = io.BytesIO(), False
    with (
        tarfile.open(fileobj=io.BytesIO(download.content)) as archive,
        tarfile.open(fileobj=out, mode="w") as copy,
    ):
        for info in archive:
            stream = archive.extractfile(info)
            data = stream.read() if stream is not None else b""
            if info.name.endswith(".dcm") and not flipped:
                data, flipped = data[:-1] + bytes([data[-1] ^ 1]), True
            copy.addfile(info, io.BytesIO(data))
    r = post(client, other, out.getvalue(), owner, subject="s2", session="e2")
    assert r.status_code == 422, r.text
    assert "manifest lists" in r.json()["error"]["message"]
