"""XNAT's prearchive: listings, one entry (GET, DELETE, scans, zip) and the archive,
move, rebuild and delete services, each result checked against /api/v1."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from tests.api.xnat.test_import import IMPORT, xnat_refused
from tests.helpers import write_study
from tests.ingest.test_upload import zip_dir

COLUMNS = [
    "project",
    "timestamp",
    "lastmod",
    "uploaded",
    "scan_date",
    "scan_time",
    "subject",
    "folderName",
    "name",
    "tag",
    "status",
    "url",
    "autoarchive",
    "prevent_anon",
    "prevent_auto_commit",
    "SOURCE",
    "VISIT",
    "PROTOCOL",
    "TIMEZONE",
]


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 3600
    return make_project("private", label="PILOT")


@pytest.fixture
def stage(
    client: TestClient, actors: dict[str, Any], project: str, tmp_path: Path
) -> Callable[..., str]:
    """``stage("S1", "E1")``: a study imported into the prearchive; returns its URL."""
    counter = iter(range(1, 100))

    def make(
        subject: str, session: str, study: Study | None = None, series: list[Series] | None = None
    ) -> str:
        folder = tmp_path / f"study{next(counter)}"
        series = series or [Series(1, "T1w"), Series(2, "T2w")]
        write_study(folder, study or Study(), series, per_series=2)
        body = zip_dir(folder, folder.with_suffix(".zip"))
        params = {
            "dest": f"/prearchive/projects/{project}",
            "SUBJECT_ID": subject,
            "EXPT_LABEL": session,
        }
        r = client.post(IMPORT, params=params, content=body, auth=actors["member"])
        assert r.status_code == 200, r.text
        return r.text.strip()

    return make


def rows(client: TestClient, url: str, auth: Any) -> list[dict[str, str]]:
    r = client.get(url, params={"format": "json"}, auth=auth)
    assert r.status_code == 200, r.text
    result: list[dict[str, str]] = r.json()["ResultSet"]["Result"]
    return result


def staged_id(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_listing_has_xnats_columns_and_matches_api_v1(
    client: TestClient, actors: dict[str, Any], project: str, stage: Callable[..., str]
) -> None:
    url = stage("S1", "E1", Study(StudyDate="20240131", StudyTime="083015"))
    member = actors["member"]
    found = rows(client, "/data/prearchive/projects", member)
    assert list(found[0]) == COLUMNS
    assert rows(client, f"/data/prearchive/projects/{project}", member) == found
    row = found[0]
    native = client.get(f"/api/v1/prearchive/{staged_id(url)}", auth=member).json()
    assert "/data" + row["url"] == url
    assert (row["project"], row["subject"], row["name"]) == (project, "S1", "E1")
    assert row["folderName"] == str(native["id"])
    assert row["tag"] == native["StudyInstanceUID"]
    assert row["status"] == native["status"] == "READY"
    assert (row["scan_date"], row["scan_time"]) == ("2024-01-31", "08:30:15")
    assert (row["autoarchive"], row["prevent_auto_commit"]) == ("Manual", "true")
    # The timestamp is the arrival of the first file, as xnatpy reads it.
    received = datetime.fromisoformat(native["created_at"])
    assert datetime.strptime(row["timestamp"], "%Y%m%d_%H%M%S%f") == received.replace(
        tzinfo=None, microsecond=received.microsecond // 1000 * 1000
    )
    datetime.strptime(row["uploaded"], "%Y-%m-%d %H:%M:%S.%f")
    datetime.strptime(row["lastmod"], "%Y-%m-%d %H:%M:%S.%f")
    # One entry, as xnatpy asks for it, and in CSV as pyxnat does.
    assert rows(client, url, member) == [row]
    csv = client.get(url, params={"format": "csv"}, auth=member).text.splitlines()
    assert csv[0] == ",".join(COLUMNS)


def test_what_each_caller_sees(
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    stage: Callable[..., str],
    make_project: Callable[..., str],
) -> None:
    stage("S1", "E1")
    assert rows(client, "/data/prearchive/projects", actors["collaborator"]) == []
    assert rows(client, "/data/prearchive/projects", actors["outsider"]) == []
    assert len(rows(client, "/data/prearchive/projects", actors["admin"])) == 1
    other = make_project("private", label="OTHER")
    assert rows(client, f"/data/prearchive/projects/{other}", actors["member"]) == []
    r = client.get(f"/data/prearchive/projects/{project}", auth=actors["collaborator"])
    xnat_refused(r, 403, "")
    r = client.get(f"/data/prearchive/projects/{project}", auth=actors["outsider"])
    xnat_refused(r, 404, "")
    r = client.get("/data/prearchive/projects")
    xnat_refused(r, 401, "")
    assert rows(client, "/data/prearchive/projects/Unassigned", actors["admin"]) == []


def test_scans_and_zip(
    client: TestClient, actors: dict[str, Any], stage: Callable[..., str]
) -> None:
    url = stage("S1", "E1")
    member = actors["member"]
    scans = rows(client, url + "/scans", member)
    assert [(s["ID"], s["series_description"], s["file_count"]) for s in scans] == [
        ("1", "T1w", "2"),
        ("2", "T2w", "2"),
    ]
    assert scans[0]["xsiType"] == "xnat:mrScanData"
    r = client.get(url, params={"format": "zip"}, auth=member)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    names = sorted(zipfile.ZipFile(io.BytesIO(r.content)).namelist())
    folder = staged_id(url)
    assert len(names) == 4
    assert all(n.startswith(f"{folder}/SCANS/") and "/DICOM/" in n for n in names)
    assert sum(n.startswith(f"{folder}/SCANS/1/DICOM/") for n in names) == 2


@pytest.mark.parametrize(
    "path",
    [
        "/data/prearchive/projects/PILOT/20200101_000000000/{id}",  # the wrong time
        "/data/prearchive/projects/OTHER/{ts}/{id}",  # the wrong project
        "/data/prearchive/projects/PILOT/{ts}/99999",  # no such number
        "/data/prearchive/projects/PILOT/{ts}/E1",  # XNAT's folder name: not one here
    ],
)
def test_a_path_that_names_nothing(
    client: TestClient, actors: dict[str, Any], stage: Callable[..., str], path: str
) -> None:
    url = stage("S1", "E1")
    ts, number = url.split("/")[-2:]
    target = path.format(ts=ts, id=number)
    for method in ("GET", "DELETE"):
        r = client.request(method, target, auth=actors["owner"])
        xnat_refused(r, 404, "No prearchive session")
    xnat_refused(client.get(target), 401, "")
    r = client.post("/data/services/archive", params={"src": target}, auth=actors["owner"])
    xnat_refused(r, 404, "No prearchive session")
    assert len(rows(client, "/data/prearchive/projects", actors["owner"])) == 1


def test_delete_the_entry(
    client: TestClient, actors: dict[str, Any], stage: Callable[..., str]
) -> None:
    url = stage("S1", "E1")
    xnat_refused(client.delete(url, auth=actors["member"]), 403, "")
    assert client.delete(url, auth=actors["owner"]).status_code == 200
    r = client.get(f"/api/v1/prearchive/{staged_id(url)}", auth=actors["owner"])
    assert r.status_code == 404


def test_archive_service(
    client: TestClient, actors: dict[str, Any], project: str, stage: Callable[..., str]
) -> None:
    url = stage("S1", "E1")
    owner = actors["owner"]
    r = client.post("/data/services/archive", params={"src": url}, auth=owner)
    assert r.status_code == 200, r.text
    assert r.text == f"/data/archive/projects/{project}/subjects/S1/experiments/E1\r\n"
    session = client.get(f"/api/v1/projects/{project}/sessions/E1", auth=owner).json()
    assert session["subject"] == "S1"
    assert rows(client, "/data/prearchive/projects", owner) == []


def test_archive_with_new_labels_as_a_form(
    client: TestClient, actors: dict[str, Any], project: str, stage: Callable[..., str]
) -> None:
    """What xnatpy's ``archive(subject=..., experiment=...)`` sends, as a form here."""
    url = stage("S1", "E1")
    form = {"src": url, "subject": "S2", "session": "E2", "overwrite": "none"}
    r = client.post("/data/services/archive", data=form, auth=actors["owner"])
    assert r.status_code == 200, r.text
    assert r.text.strip() == f"/data/archive/projects/{project}/subjects/S2/experiments/E2"
    r = client.get(f"/api/v1/projects/{project}/sessions/E2", auth=actors["owner"])
    assert r.json()["subject"] == "S2"


def test_archive_overwrite_none_refuses_a_merge_and_append_merges(
    client: TestClient, actors: dict[str, Any], project: str, stage: Callable[..., str]
) -> None:
    owner = actors["owner"]
    study = Study()
    first = stage("S1", "E1", study)
    assert client.post("/data/services/archive", params={"src": first}, auth=owner).is_success
    second = stage("S1", "E1", study, [Series(3, "DWI")])
    r = client.post("/data/services/archive", params={"src": second}, auth=owner)
    xnat_refused(r, 409, "archived already")
    assert len(rows(client, "/data/prearchive/projects", owner)) == 1
    r = client.post(
        "/data/services/archive", params={"src": second, "overwrite": "append"}, auth=owner
    )
    assert r.status_code == 200, r.text
    scans = client.get(f"/api/v1/projects/{project}/sessions/E1/scans", auth=owner).json()
    assert sorted(s["id"] for s in scans["items"]) == ["1", "2", "3"]


def test_archiving_a_session_in_conflict(
    client: TestClient, actors: dict[str, Any], project: str, stage: Callable[..., str]
) -> None:
    """Another study under an archived session's label: 409, and it stays staged."""
    owner = actors["owner"]
    first = stage("S1", "E1")
    assert client.post("/data/services/archive", params={"src": first}, auth=owner).is_success
    other = stage("S1", "E1")  # a new study (its own UID) with the same labels
    r = client.post(
        "/data/services/archive", params={"src": other, "overwrite": "append"}, auth=owner
    )
    xnat_refused(r, 409, "")
    (row,) = rows(client, "/data/prearchive/projects", owner)
    assert row["status"] == "CONFLICT"
    # Refused with new labels: the labels are given back.
    form = {"src": other, "session": "E1", "subject": "S7", "overwrite": "append"}
    xnat_refused(client.post("/data/services/archive", data=form, auth=owner), 409, "")
    (row,) = rows(client, "/data/prearchive/projects", owner)
    assert (row["subject"], row["name"]) == ("S1", "E1")


def test_move_rebuild_delete_services(
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    stage: Callable[..., str],
    make_project: Callable[..., str],
) -> None:
    other = make_project("private", label="OTHER")
    url = stage("S1", "E1")
    owner = actors["owner"]
    r = client.post(
        "/data/services/prearchive/move",
        data={"src": url, "newProject": other, "async": "false", "format": "json"},
        auth=owner,
    )
    assert r.status_code == 200, r.text
    (moved,) = r.json()["ResultSet"]["Result"]
    assert moved["project"] == other
    assert moved["url"] == url.removeprefix("/data").replace(f"/{project}/", f"/{other}/")
    native = client.get(f"/api/v1/prearchive/{moved['folderName']}", auth=owner).json()
    assert native["project"] == other
    new_url = "/data" + moved["url"]
    r = client.post(
        "/data/services/prearchive/rebuild",
        params={"src": new_url, "format": "json"},
        auth=owner,
    )
    assert r.status_code == 200, r.text
    assert r.json()["ResultSet"]["Result"][0]["status"] == "READY"
    r = client.post(
        "/data/services/prearchive/delete",
        content=f"src={moved['url']}&async=false",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=owner,
    )
    assert r.status_code == 200, r.text
    assert rows(client, "/data/prearchive/projects", owner) == []


def test_services_refuse_without_src_or_rights(
    client: TestClient, actors: dict[str, Any], project: str, stage: Callable[..., str]
) -> None:
    url = stage("S1", "E1")
    for service in ("archive", "prearchive/move", "prearchive/rebuild", "prearchive/delete"):
        r = client.post(f"/data/services/{service}", auth=actors["owner"])
        xnat_refused(r, 400, "src")
    r = client.post("/data/services/archive", params={"src": "/archive/x"}, auth=actors["owner"])
    xnat_refused(r, 400, "is not a prearchive session")
    r = client.post("/data/services/prearchive/move", params={"src": url}, auth=actors["owner"])
    xnat_refused(r, 400, "newProject")
    r = client.post("/data/services/archive", params={"src": url}, auth=actors["member"])
    xnat_refused(r, 403, "")
    form = {"src": url, "subject": "S5"}
    r = client.post("/data/services/archive", data=form, auth=actors["member"])
    xnat_refused(r, 403, "")  # and the subject stays S1 (checked below)
    r = client.post("/data/services/prearchive/delete", params={"src": url}, auth=actors["member"])
    xnat_refused(r, 403, "")
    for who in ("collaborator", "outsider"):
        r = client.post("/data/services/prearchive/rebuild", params={"src": url}, auth=actors[who])
        xnat_refused(r, 404, "No prearchive session")
    r = client.post(
        "/data/services/archive", params={"src": url, "overwrite": "maybe"}, auth=actors["owner"]
    )
    xnat_refused(r, 400, "overwrite must be")
    (row,) = rows(client, "/data/prearchive/projects", actors["owner"])
    assert (row["subject"], row["name"]) == ("S1", "E1")


def test_actions_on_the_entry(
    client: TestClient, actors: dict[str, Any], project: str, stage: Callable[..., str]
) -> None:
    url = stage("S1", "E1")
    r = client.post(url, data={"action": "build"}, auth=actors["member"])
    assert r.status_code == 200, r.text
    assert r.text == url + "\r\n"
    xnat_refused(client.post(url, params={"action": "move"}, auth=actors["owner"]), 400, "move")
    xnat_refused(client.post(url, params={"action": "commit"}, auth=actors["member"]), 403, "")
    r = client.post(url, params={"action": "commit"}, auth=actors["owner"])
    assert r.status_code == 200, r.text
    assert r.text == f"/data/archive/projects/{project}/subjects/S1/experiments/E1\r\n"
    assert client.get(f"/api/v1/projects/{project}/sessions/E1", auth=actors["owner"]).is_success


def test_scan_resources_and_files(
    client: TestClient, actors: dict[str, Any], stage: Callable[..., str]
) -> None:
    url = stage("S1", "E1")
    member = actors["member"]
    (resource,) = rows(client, url + "/scans/1/resources", member)
    assert resource == {"label": "DICOM", "file_count": "2", "file_size": resource["file_size"]}
    files = rows(client, url + "/scans/1/resources/DICOM/files", member)
    assert [sorted(f) for f in files] == [["Name", "Size", "URI"]] * 2
    r = client.get(files[0]["URI"], auth=member)
    assert r.status_code == 200
    assert r.content[128:132] == b"DICM"
    assert len(r.content) == int(files[0]["Size"])
    for missing in (
        "/scans/9/resources",
        "/scans/1/resources/SNAPSHOTS/files",
        "/scans/1/resources/DICOM/files/1.2.3.dcm",
        "/scans/1/resources/DICOM/files/notes.txt",
    ):
        xnat_refused(client.get(url + missing, auth=member), 404, "No ")
    xnat_refused(client.get(files[0]["URI"], auth=actors["collaborator"]), 404, "No prearchive")
