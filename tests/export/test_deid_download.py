"""De-identified downloads: real DICOM archived through the import, through the
project's export script, read back from the archive with pydicom."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.catalog.access import AuditEvent
from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from tests.export.deid_world import (
    CTP_PIXELS,
    CTP_SCRIPT,
    IDENTIFYING,
    import_session,
    read_member,
    save_script,
    stored_files,
    ultrasound,
    use_test_script,
)
from tests.helpers import API


@pytest.fixture
def project(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A project with an export script, one session of two MR series and a burned-in
    ultrasound instance, and a NIFTI resource beside the DICOM."""
    use_test_script(monkeypatch)
    ctx.settings.prearchive_quiet_s = 3600  # only the import itself builds
    label = make_project(upload_destination="archive")
    study = Study(PatientName="Smith^John", PatientID="MRN123", AccessionNumber="ACC9")
    import_session(
        client, actors["owner"], tmp_path, label, "S1", "E1", study, extra=[ultrasound(study)]
    )
    r = client.put(
        f"{API}/projects/{label}/sessions/E1/scans/1/resources/NIFTI/files/Smith_John.nii.gz",
        content=b"not dicom",
        auth=actors["owner"],
    )
    assert r.status_code == 201, r.text
    save_script(ctx, label)
    return label


def _zip(client: TestClient, auth: Any, url: str, **params: Any) -> zipfile.ZipFile:
    r = client.get(url, params={"deid": "true", **params}, auth=auth)
    assert r.status_code == 200, r.text
    assert "content-length" not in r.headers  # made as it is sent
    return zipfile.ZipFile(io.BytesIO(r.content))


def _dicom(zf: zipfile.ZipFile) -> dict[str, Any]:
    return {
        n: read_member(zf.read(n))
        for n in zf.namelist()
        if n.endswith(".dcm") and not n.startswith("manifest")
    }


def test_deidentified_zip_read_back(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str
) -> None:
    before = stored_files(ctx, project)
    url = f"{API}/projects/{project}/sessions/E1/download"
    zf = _zip(client, actors["member"], url)
    assert zf.testzip() is None
    found = _dicom(zf)
    assert len(found) == 6  # two MR series of three; the ultrasound refused
    originals = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p
        for p in (ctx.store.archive / project).rglob("*.dcm")
    }
    for name, ds in found.items():
        for keyword in IDENTIFYING:
            assert str(ds.get(keyword, "")) in ("", "S1"), (name, keyword)
        assert "Smith" not in str(ds.PatientName)
        # The file is named by its new SOP Instance UID, under the project's labels.
        assert name.startswith("S1/E1/scans/")
        assert name.endswith(f"/resources/DICOM/files/{ds.SOPInstanceUID}.dcm")
        assert ds.SOPInstanceUID.startswith("2.25.")
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert hashlib.sha256(zf.read(name)).hexdigest() not in originals
    assert len({ds.StudyInstanceUID for ds in found.values()}) == 1
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["deidentified"]["script"].startswith("export v1 sha256:")
    assert manifest["file_count"] == 6
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(found)
    for name in found:
        assert listed[name]["sha256"] == hashlib.sha256(zf.read(name)).hexdigest()
        assert "url" not in listed[name]  # the file routes serve the stored originals
    sums = zf.read("manifest.sha256").decode().splitlines()
    assert sorted(sums) == sorted(f"{f['sha256']}  {f['name']}" for f in manifest["files"])
    [refused] = manifest["refused"]
    assert refused["code"] == "burned_in" and refused["scan"] == "9"
    [left_out] = manifest["left_out"]
    assert (left_out["resource"], left_out["files"]) == ("NIFTI", 1)
    assert not any("Smith" in n or "MRN123" in n for n in zf.namelist())
    assert "Smith" not in zf.read("manifest.json").decode()
    # The stored files are as they were.
    assert stored_files(ctx, project) == before


def test_same_uids_across_two_downloads(
    client: TestClient, actors: dict[str, Any], project: str
) -> None:
    url = f"{API}/projects/{project}/sessions/E1/download"
    first = _dicom(_zip(client, actors["member"], url))
    second = _dicom(_zip(client, actors["owner"], url, layout="flat"))
    assert {ds.SOPInstanceUID for ds in first.values()} == {
        ds.SOPInstanceUID for ds in second.values()
    }
    assert {ds.SeriesInstanceUID for ds in first.values()} == {
        ds.SeriesInstanceUID for ds in second.values()
    }
    assert {ds.StudyInstanceUID for ds in first.values()} == {
        ds.StudyInstanceUID for ds in second.values()
    }


def test_burned_in_let_out_when_asked(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str
) -> None:
    url = f"{API}/projects/{project}/sessions/E1/scans/9/download"
    zf = _zip(client, actors["member"], url, allow_burned_in="true")
    [ds] = _dicom(zf).values()
    assert ds.Modality == "US" and str(ds.PatientName) == "S1"
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["refused"] == []
    with ctx.db.read() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "deid.download")).all()
    assert events[-1].detail["allow_burned_in"] is True
    assert events[-1].target == "E1"


def test_tar_gz_and_tar(client: TestClient, actors: dict[str, Any], project: str) -> None:
    url = f"{API}/projects/{project}/sessions/E1/download"
    for fmt, mode in (("tar.gz", "r:gz"), ("tar", "r:")):
        r = client.get(url, params={"deid": "true", "format": fmt}, auth=actors["member"])
        assert r.status_code == 200, r.text
        with tarfile.open(fileobj=io.BytesIO(r.content), mode=mode) as tf:  # type: ignore[call-overload]
            names = tf.getnames()
            dicom = [n for n in names if n.endswith(".dcm")]
            assert len(dicom) == 6
            assert names[-2:] == ["manifest.json", "manifest.sha256"]  # made last
            member = tf.extractfile(dicom[0])
            assert member is not None
            assert str(read_member(member.read()).PatientID) == "S1"


def test_refused_by_the_script_is_listed(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_test_script(monkeypatch)
    ctx.settings.prearchive_quiet_s = 3600
    label = make_project(upload_destination="archive")
    study = Study(PatientComments="REFUSE")
    import_session(client, actors["owner"], tmp_path, label, "S1", "E1", study)
    save_script(ctx, label)
    zf = _zip(client, actors["member"], f"{API}/projects/{label}/download", sessions="E1")
    assert _dicom(zf) == {}
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["file_count"] == 0
    assert len(manifest["refused"]) == 6
    assert {r["code"] for r in manifest["refused"]} == {"refused"}
    assert "@require" in manifest["refused"][0]["reason"]


def test_left_identifying_is_refused_by_the_verification(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A script that leaves the Referring Physician's Name: the verification after it
    refuses every instance, named by tag, without the value it found."""
    use_test_script(monkeypatch)
    ctx.settings.prearchive_quiet_s = 3600
    label = make_project(upload_destination="archive")
    study = Study(PatientComments="LEAK")
    import_session(client, actors["owner"], tmp_path, label, "S1", "E1", study)
    save_script(ctx, label)
    zf = _zip(client, actors["member"], f"{API}/projects/{label}/sessions/E1/download")
    assert _dicom(zf) == {}
    manifest = json.loads(zf.read("manifest.json"))
    assert {r["code"] for r in manifest["refused"]} == {"not_deidentified"}
    assert len(manifest["refused"]) == 6
    reason = manifest["refused"][0]["reason"]
    assert "(0008,0090) ReferringPhysicianName" in reason
    assert "ref^doc" not in zf.read("manifest.json").decode().lower()


def test_refused_without_an_export_script(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
) -> None:
    ctx.settings.prearchive_quiet_s = 3600
    label = make_project(upload_destination="archive")
    import_session(client, actors["owner"], tmp_path, label, "S1", "E1", Study())
    r = client.get(
        f"{API}/projects/{label}/sessions/E1/download",
        params={"deid": "true"},
        auth=actors["member"],
    )
    assert r.status_code == 409
    assert "no export de-identification script" in r.json()["error"]["message"]
    # Without deid the same download is the stored files.
    r = client.get(f"{API}/projects/{label}/sessions/E1/download", auth=actors["member"])
    assert r.status_code == 200


def test_only_non_dicom_is_refused(
    client: TestClient, actors: dict[str, Any], project: str
) -> None:
    r = client.get(
        f"{API}/projects/{project}/sessions/E1/scans/1/resources/NIFTI/download",
        params={"deid": "true"},
        auth=actors["member"],
    )
    assert r.status_code == 404
    assert "no DICOM instance" in r.json()["error"]["message"]


def test_access_is_checked_first(client: TestClient, actors: dict[str, Any], project: str) -> None:
    r = client.get(
        f"{API}/projects/{project}/sessions/E1/download",
        params={"deid": "true"},
        auth=actors["outsider"],
    )
    assert r.status_code == 404


@pytest.mark.in_process("the server's export script is patched in")
@pytest.mark.interop
def test_the_command_line_unpacks_and_checks(
    ctx: Context,
    live_server: Any,
    users: dict[str, Any],
    project: str,
    tmp_path: Path,
) -> None:
    """``scandepot download --deid`` as a real process against a real server."""
    token = tokens.create(ctx, actor_for(users["member"]), TokenCreate(name="cli")).token
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["SCANDEPOT_TOKEN"] = token
    dest = tmp_path / "out"
    args = ["--url", live_server.url, "--project", project, "--session", "E1", "--deid"]
    done = subprocess.run(
        [sys.executable, "-m", "scandepot", "download", *args, str(dest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 instance(s) refused" in done.stderr
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["file_count"] == 6
    for entry in manifest["files"]:
        path = dest / entry["name"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert str(read_member(path.read_bytes()).PatientID) == "S1"
    assert not list((dest / ".scandepot" / "partial").iterdir())
    refused = subprocess.run(
        [sys.executable, "-m", "scandepot", "download", *args, "--list", "x.xml", str(dest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and "--deid" in refused.stderr


def test_the_download_page_offers_it(
    client: TestClient, actors: dict[str, Any], project: str
) -> None:
    """The page's form, sent as a browser sends it, asks the route for a de-identified
    archive; saved as a list it is refused (its files exist only as they are sent)."""
    who = actors["member"]
    page = client.get(f"/download?project={project}", auth=who).text
    assert 'name="deid"' in page and 'name="allow_burned_in"' in page
    query = [("project", project), ("session", "E1"), ("deid", "true")]
    r = client.get("/download/archive", params=query, auth=who, follow_redirects=False)
    assert r.status_code == 303
    assert "deid=true" in r.headers["location"]
    r = client.get(r.headers["location"], auth=who)
    assert r.status_code == 200, r.text
    assert len(_dicom(zipfile.ZipFile(io.BytesIO(r.content)))) == 6
    listed = [*query, ("save", "list")]
    r = client.get("/download/archive", params=listed, auth=who, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/download?project=")


@pytest.fixture
def plain(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
) -> tuple[str, Study]:
    """A project with one session (two MR series and a burned-in ultrasound instance) and
    no export script yet; the scripts the tests save are loaded by the real loaders."""
    ctx.settings.prearchive_quiet_s = 3600
    label = make_project(upload_destination="archive")
    study = Study(PatientName="Smith^John", PatientID="MRN123", AccessionNumber="ACC9")
    extra = [ultrasound(study)]
    import_session(client, actors["owner"], tmp_path, label, "S1", "E1", study, extra=extra)
    return label, study


def test_with_the_confidentiality_profile(
    ctx: Context, client: TestClient, actors: dict[str, Any], plain: tuple[str, Study]
) -> None:
    """The basic profile, saved as the project's export script (JSON options)."""
    project, study = plain
    save_script(ctx, project, text='{"options": []}', kind="profile")
    url = f"{API}/projects/{project}/sessions/E1/download"
    zf = _zip(client, actors["member"], url)
    found = _dicom(zf)
    assert len(found) == 6
    for ds in found.values():
        assert str(ds.PatientName) not in ("Smith^John", "") and ds.PatientID != "MRN123"
        assert "AccessionNumber" not in ds or not ds.AccessionNumber
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.StudyInstanceUID != study.StudyInstanceUID
        assert ds.SOPInstanceUID.startswith("2.25.")
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["deidentified"]["script"].startswith("export v1 sha256:")
    assert [r["code"] for r in manifest["refused"]] == ["burned_in"]
    again = _dicom(_zip(client, actors["member"], url))
    assert set(again) == set(found)  # the same UIDs, so the same names


def test_a_pixel_rule_lets_the_cleaned_ultrasound_out(
    ctx: Context, client: TestClient, actors: dict[str, Any], plain: tuple[str, Study]
) -> None:
    """A CTP script whose DicomPixelAnonymizer rule blanks the ultrasound image: the
    instance declared burned-in leaves, its top-left corner blanked (without a rule it is
    refused: the tests above)."""
    project, _study = plain
    save_script(ctx, project, text=CTP_SCRIPT, kind="ctp", pixel_text=CTP_PIXELS)
    url = f"{API}/projects/{project}/sessions/E1/scans/9/download"
    [ds] = _dicom(_zip(client, actors["member"], url)).values()
    assert str(ds.PatientName) == "S1" and ds.Modality == "US"
    assert not ds.pixel_array[:5, :5].any()
    assert ds.pixel_array.any()
