"""``POST /data/services/import``: XNAT's import service over the one upload path, each
answer checked against /api/v1, and bad input refused in XNAT's shape with nothing left."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from tests.helpers import write_study
from tests.ingest.test_upload import nothing_left, zip_dir

IMPORT = "/data/services/import"
STAGED_URI = re.compile(r"/data/prearchive/projects/(\w+)/(\d{8}_\d{9})/(\d+)")


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 3600  # only the upload itself builds
    return make_project("private", label="PILOT")


@pytest.fixture
def study_zip(tmp_path: Path) -> bytes:
    root = tmp_path / "study"
    write_study(root, Study(PatientName="Doe^Jane", PatientID="P01"), [Series(1), Series(2)])
    return zip_dir(root, tmp_path / "study.zip")


def xnat_refused(r: Any, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "<h3>" in r.text and words in r.text, r.text


def test_into_the_prearchive_answers_the_entry_uri(
    client: TestClient, actors: dict[str, Any], project: str, study_zip: bytes
) -> None:
    r = client.post(
        IMPORT,
        params={
            "import-handler": "DICOM-zip",
            "inbody": "true",
            "dest": f"/prearchive/projects/{project}",
            "SUBJECT_ID": "S01",
            "EXPT_LABEL": "E01",
        },
        content=study_zip,
        auth=actors["member"],
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    found = STAGED_URI.fullmatch(r.text.strip())
    assert found is not None, r.text
    assert found[1] == project
    staged = client.get(f"/api/v1/prearchive/{found[3]}", auth=actors["member"]).json()
    assert (staged["subject"], staged["session"], staged["files"]) == ("S01", "E01", 6)
    # The URI names the entry the listing shows.
    listed = client.get(f"/data/prearchive/projects/{project}?format=json", auth=actors["member"])
    rows = listed.json()["ResultSet"]["Result"]
    assert ["/data" + row["url"] for row in rows] == [r.text.strip()]


def test_into_the_archive_with_a_multipart_body(
    client: TestClient, actors: dict[str, Any], project: str, study_zip: bytes
) -> None:
    r = client.post(
        IMPORT,
        params={"dest": f"/archive/projects/{project}", "SUBJECT_ID": "S01", "EXPT_LABEL": "E01"},
        files={"file": ("study.zip", study_zip, "application/zip")},
        auth=actors["owner"],
    )
    assert r.status_code == 200, r.text
    assert r.text.strip() == f"/data/archive/projects/{project}/subjects/S01/experiments/E01"
    session = client.get(f"/api/v1/projects/{project}/sessions/E01", auth=actors["owner"])
    assert session.status_code == 200
    assert session.json()["subject"] == "S01"
    scans = client.get(f"/api/v1/projects/{project}/sessions/E01/scans", auth=actors["owner"])
    assert sorted(s["id"] for s in scans.json()["items"]) == ["1", "2"]


def test_project_id_with_dest_prearchive_and_xnatpy_names(
    client: TestClient, actors: dict[str, Any], project: str, study_zip: bytes
) -> None:
    """``dest=/prearchive`` with ``PROJECT_ID``; xnatpy's ``project``/``subject``/``session``
    and no handler at all (XNAT 1.8's default is DICOM-zip)."""
    r = client.post(
        IMPORT,
        params={"dest": "/prearchive", "PROJECT_ID": project, "subject": "S9", "session": "E9"},
        content=study_zip,
        headers={"content-type": "application/zip"},
        auth=actors["member"],
    )
    assert r.status_code == 200, r.text
    found = STAGED_URI.fullmatch(r.text.strip())
    assert found is not None and found[1] == project
    staged = client.get(f"/api/v1/prearchive/{found[3]}", auth=actors["member"]).json()
    assert (staged["subject"], staged["session"]) == ("S9", "E9")


def test_overwrite_append_adds_to_an_archived_session(
    client: TestClient, actors: dict[str, Any], project: str, tmp_path: Path
) -> None:
    study = Study()
    first, second = tmp_path / "a", tmp_path / "b"
    write_study(first, study, [Series(1)])
    write_study(second, study, [Series(2)])
    params = {"dest": f"/archive/projects/{project}/subjects/S1/experiments/E1"}
    auth = actors["owner"]
    body = zip_dir(first, tmp_path / "a.zip")
    assert client.post(IMPORT, params=params, content=body, auth=auth).status_code == 200
    again = zip_dir(second, tmp_path / "b.zip")
    r = client.post(IMPORT, params=params, content=again, auth=auth)
    xnat_refused(r, 409, "exists already")
    r = client.post(IMPORT, params={**params, "overwrite": "append"}, content=again, auth=auth)
    assert r.status_code == 200, r.text
    scans = client.get(f"/api/v1/projects/{project}/sessions/E1/scans", auth=auth).json()
    assert sorted(s["id"] for s in scans["items"]) == ["1", "2"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"import-handler": "SI"}, "Import handler &#x27;SI&#x27; is not served here"),
        ({"import-handler": "gradual-DICOM"}, "&#x27;gradual-DICOM&#x27; is not served"),
        ({"import-handler": "zip-please"}, "Unknown import handler &#x27;zip-please&#x27;"),
        ({"dest": "/somewhere/else"}, "Unknown destination"),
        ({"dest": "/prearchive/projects/PILOT/subjects/S"}, "Unknown destination"),
        ({"dest": "/prearchive"}, "No project given"),
        ({"dest": "/prearchive/projects/PILOT", "PROJECT_ID": "OTHER"}, "Two projects given"),
        ({"PROJECT_ID": "PILOT", "overwrite": "yes"}, "overwrite must be none"),
        ({"PROJECT_ID": "PILOT", "EXPT_LABEL": "../x"}, "session must be letters"),
    ],
)
def test_bad_options(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    study_zip: bytes,
    params: dict[str, str],
    words: str,
) -> None:
    r = client.post(IMPORT, params=params, content=study_zip, auth=actors["member"])
    xnat_refused(r, 400, words)
    nothing_left(ctx)


def test_a_dest_the_caller_may_not_write(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    make_project: Callable[..., str],
    study_zip: bytes,
) -> None:
    params = {"dest": f"/prearchive/projects/{project}"}
    xnat_refused(
        client.post(IMPORT, params=params, content=study_zip, auth=actors["collaborator"]), 403, ""
    )
    xnat_refused(
        client.post(IMPORT, params=params, content=study_zip, auth=actors["outsider"]), 404, ""
    )
    r = client.post(
        IMPORT,
        params={"dest": "/prearchive/projects/NOPE"},
        content=study_zip,
        auth=actors["member"],
    )
    xnat_refused(r, 404, "NOPE")
    # Straight into the archive of a project that stages uploads: its owners only.
    r = client.post(
        IMPORT,
        params={"dest": f"/archive/projects/{project}"},
        content=study_zip,
        auth=actors["member"],
    )
    xnat_refused(r, 403, "only its owners")
    nothing_left(ctx)


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return out.getvalue()


def test_bad_archives(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    study_zip: bytes,
    tmp_path: Path,
) -> None:
    params = {"dest": f"/prearchive/projects/{project}"}
    auth = actors["member"]

    def post(body: bytes) -> Any:
        return client.post(IMPORT, params=params, content=body, auth=auth)

    xnat_refused(post(study_zip[: len(study_zip) // 2]), 400, "")  # a cut zip
    xnat_refused(post(b"not an archive at all"), 415, "not a zip, tar or tar.gz")
    xnat_refused(post(_zip({"notes.txt": b"hello"})), 400, "not DICOM")
    xnat_refused(post(_zip({"../evil.dcm": b"x"})), 400, "&#x27;..&#x27;")
    bomb = tmp_path / "bomb"
    write_study(bomb, Study(), [Series(1)], per_series=1)
    with open(bomb / "zeros.dcm", "wb") as fh:
        fh.truncate(80 * 1024 * 1024)
    xnat_refused(post(zip_dir(bomb, tmp_path / "bomb.zip")), 413, "zip bomb")
    nothing_left(ctx)


def test_a_form_with_two_files_or_none(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str, study_zip: bytes
) -> None:
    params = {"dest": f"/prearchive/projects/{project}"}
    two = {
        "a": ("a.zip", study_zip, "application/zip"),
        "b": ("b.zip", study_zip, "application/zip"),
    }
    r = client.post(IMPORT, params=params, files=two, auth=actors["member"])
    xnat_refused(r, 400, "more than one file")
    r = client.post(
        IMPORT, params=params, data={"x": "y"}, files={"f": ("", b"", "")}, auth=actors["member"]
    )
    assert r.status_code == 400
    nothing_left(ctx)
