"""The import service and the prearchive with real peers: xnatpy, pyxnat and curl as
XNAT's documentation gives it, against a real server; each result checked against
/api/v1."""

from __future__ import annotations

import datetime as dt
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from tests.conftest import PASSWORD
from tests.helpers import write_study
from tests.ingest.test_upload import zip_dir

pytestmark = pytest.mark.interop

CURL = "/usr/bin/curl"


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 3600  # only the upload itself builds
    return make_project("private", label="PILOT")


@pytest.fixture
def study_zip(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    write_study(root, Study(PatientName="Doe^Jane"), [Series(1, "T1w"), Series(2, "T2w")])
    out = tmp_path / "study.zip"
    zip_dir(root, out)
    return out


def native(server: str, path: str, login: str = "owner") -> Any:
    r = httpx.get(f"{server}/api/v1{path}", auth=(login, PASSWORD))
    assert r.status_code == 200, r.text
    return r.json()


def test_xnatpy_imports_into_the_prearchive_and_works_on_it(
    xnatpy: Any,
    xnat_server: str,
    project: str,
    study_zip: Path,
    make_project: Callable[..., str],
    tmp_path: Path,
) -> None:
    session = xnatpy("member")
    entry = session.services.import_(
        study_zip, project=project, destination="/prearchive", subject="S1", experiment="E1"
    )
    assert type(entry).__name__ == "PrearchiveSession"
    (listed,) = session.prearchive.sessions()
    assert listed.uri == entry.uri
    assert (listed.project, listed.subject, listed.label, listed.status) == (
        project,
        "S1",
        "E1",
        "READY",
    )
    staged = native(xnat_server, f"/prearchive/{listed.folder_name}", "member")
    assert listed.data["tag"] == staged["StudyInstanceUID"]
    received = dt.datetime.fromisoformat(staged["created_at"])
    assert abs(listed.timestamp - received.replace(tzinfo=None)) < dt.timedelta(milliseconds=1)
    assert sorted(s.id for s in listed.scans) == ["1", "2"]
    assert sorted(s.series_description for s in listed.scans) == ["T1w", "T2w"]
    t1 = next(s for s in listed.scans if s.series_description == "T1w")
    assert [r.label for r in t1.resources] == ["DICOM"]
    assert t1.resources["DICOM"].file_count == 3
    assert len(t1.files) == 3
    header = t1.read_dicom()
    assert header.SeriesDescription == "T1w"
    assert f"{header.SOPInstanceUID}.dcm" in [f.name for f in t1.files]
    saved = listed.download(tmp_path / "entry.zip")
    assert len(zipfile.ZipFile(saved).namelist()) == 6
    # An owner of both projects moves it, then deletes it.
    other = make_project("private", label="OTHER")
    owner = xnatpy("owner")
    (mine,) = owner.prearchive.sessions(project=project)
    mine.move(other)
    assert native(xnat_server, f"/prearchive/{listed.folder_name}")["project"] == other
    (moved,) = owner.prearchive.sessions(project=other)
    assert moved.uri == entry.uri.replace(f"/{project}/", f"/{other}/")
    moved.delete()
    assert owner.prearchive.sessions() == []
    assert native(xnat_server, "/prearchive")["items"] == []


def test_xnatpy_imports_into_the_archive(
    xnatpy: Any, xnat_server: str, project: str, study_zip: Path
) -> None:
    session = xnatpy("owner")
    query = {"subject": "S1", "experiment": "E1", "destination": "/archive"}
    # xnatpy reads back the session the answer names, through the experiment routes.
    experiment = session.services.import_(study_zip, project=project, **query)
    assert (experiment.label, experiment.subject.label) == ("E1", "S1")
    found = native(xnat_server, f"/projects/{project}/sessions/E1")
    assert found["subject"] == "S1"
    scans = native(xnat_server, f"/projects/{project}/sessions/E1/scans")
    assert sorted(s["id"] for s in scans["items"]) == ["1", "2"]


def test_pyxnat_reads_and_deletes_the_prearchive(
    pyxnat_interface: Any, xnat_server: str, project: str, study_zip: Path
) -> None:
    params = {"dest": f"/prearchive/projects/{project}", "SUBJECT_ID": "S1", "EXPT_LABEL": "E1"}
    r = httpx.post(
        f"{xnat_server}/data/services/import",
        params=params,
        content=study_zip.read_bytes(),
        auth=("member", PASSWORD),
    )
    assert r.status_code == 200, r.text
    prearchive = pyxnat_interface("owner").manage.prearchive
    (triple,) = prearchive.get()
    assert triple[0] == project and "/".join(triple) in r.text
    assert prearchive.status(triple) == "READY"
    assert sorted(prearchive.get_scans(triple)) == ["1", "2"]
    assert prearchive.reset(triple).decode().strip() == r.text.strip()  # POST action=build
    url = prearchive.get_uri(triple)
    assert "/data" + url == r.text.strip()
    prearchive.delete(url)
    assert prearchive.get() == []
    assert native(xnat_server, "/prearchive")["items"] == []


def curl(*args: str) -> str:
    done = subprocess.run(
        [CURL, "-sS", "--fail-with-body", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_curl_recipes(xnat_server: str, project: str, study_zip: Path) -> None:
    """XNAT's documented recipe: the zip as the body (``--data-binary``), the entry
    listed as CSV, then archived; and the same zip as a form's file field."""
    user = f"member:{PASSWORD}"
    url = (
        f"{xnat_server}/data/services/import?import-handler=DICOM-zip"
        f"&PROJECT_ID={project}&SUBJECT_ID=S1&EXPT_LABEL=E1&inbody=true"
    )
    entry = curl("-u", user, "-X", "POST", url, "--data-binary", f"@{study_zip}").strip()
    assert entry.startswith(f"/data/prearchive/projects/{project}/")
    listing = curl("-u", user, f"{xnat_server}/data/prearchive/projects/{project}?format=csv")
    header, row = listing.splitlines()
    assert header.split(",")[:3] == ["project", "timestamp", "lastmod"]
    assert entry.removeprefix("/data") in row.split(",")
    staged = native(xnat_server, f"/prearchive/{entry.rsplit('/', 1)[1]}", "member")
    assert (staged["subject"], staged["session"], staged["files"]) == ("S1", "E1", 6)
    owner = f"owner:{PASSWORD}"
    done = curl("-u", owner, "-X", "POST", f"{xnat_server}/data/services/archive?src={entry}")
    assert done.strip() == f"/data/archive/projects/{project}/subjects/S1/experiments/E1"
    assert native(xnat_server, f"/projects/{project}/sessions/E1")["subject"] == "S1"
    # A form upload (curl -F), straight into the archive, as an owner.
    again = (
        f"{xnat_server}/data/services/import?import-handler=DICOM-zip"
        f"&dest=/archive/projects/{project}/subjects/S2/experiments/E2"
    )
    other = study_zip.parent / "other"
    write_study(other, Study(), [Series(1, "T1w")])
    body = zip_dir(other, study_zip.parent / "other.zip")
    assert body
    done = curl("-u", owner, "-F", f"file=@{study_zip.parent / 'other.zip'}", again)
    assert done.strip() == f"/data/archive/projects/{project}/subjects/S2/experiments/E2"
    # Another handler: XNAT's status page, and nothing imported.
    bad = subprocess.run(
        [
            CURL,
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            user,
            "-X",
            "POST",
            url.replace("DICOM-zip", "SI"),
            "--data-binary",
            f"@{study_zip}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert bad.stdout == "400"


def test_xnatpy_archives_from_the_prearchive(
    xnatpy: Any, xnat_server: str, project: str, study_zip: Path
) -> None:
    """``PrearchiveSession.rebuild()`` and ``.archive(subject=..., experiment=...)``."""
    session = xnatpy("owner")
    entry = session.services.import_(
        study_zip, project=project, destination=f"/prearchive/projects/{project}"
    )
    entry.rebuild()
    (listed,) = session.prearchive.sessions()
    assert listed.status == "READY"
    experiment = listed.archive(subject="S2", experiment="E2", overwrite="none")
    assert (experiment.label, experiment.subject.label) == ("E2", "S2")
    assert native(xnat_server, f"/projects/{project}/sessions/E2")["subject"] == "S2"
    assert session.prearchive.sessions() == []
