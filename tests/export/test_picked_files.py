"""Single files chosen for a download: exactly those come out, in every archive format,
with a manifest that lists them; a name that is wrong, or a file that is not there, is
refused naming it; a file of a project the caller may not read is 404 like the rest."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from scandepot.export.layouts import Layout
from tests.export.conftest import BASE, World
from tests.export.test_round_trip import check_manifest, expected_names, read_archive
from tests.helpers import ADMIN

E1 = f"{BASE}/sessions/E1"


def manifest_keys(client: TestClient, url: str, params: list[tuple[str, str]]) -> set[tuple]:
    r = client.get(url, params=params, auth=ADMIN)
    assert r.status_code == 200, r.text
    return {
        (f["subject"], f["session"], f["scan"], f["resource"], f["path"]) for f in r.json()["files"]
    }


def test_a_session_download_of_chosen_files_holds_exactly_those(
    client: TestClient, world: World
) -> None:
    chosen = [
        "scans/1/resources/DICOM/files/0001.dcm",
        "scans/10/resources/NIFTI/files/sub/10.nii.gz",
        "resources/QA/files/report.txt",
    ]
    want = {
        ("S1", "E1", "1", "DICOM", "0001.dcm"),
        ("S1", "E1", "10", "NIFTI", "sub/10.nii.gz"),
        ("S1", "E1", None, "QA", "report.txt"),
    }
    expected = expected_names({k: world.files[k] for k in want}, Layout.TREE)
    for fmt in ("zip", "tar", "tar.gz"):
        params = [("format", fmt), *(("files", f) for f in chosen)]
        r = client.get(f"{E1}/download", params=params, auth=ADMIN)
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == f'attachment; filename="P1-E1.{fmt}"'
        members = read_archive(fmt, r.content)
        listed = json.loads(members["manifest.json"])
        check_manifest(members, expected)  # the files, the manifest and its sums agree
        assert listed["selection"] == {
            "sessions": ["E1"],
            "files": [f"sessions/E1/{f}" for f in chosen],
        }
    api = client.get(f"{E1}/manifest", params={"files": chosen}, auth=ADMIN).json()
    assert [f["name"] for f in api["files"]] == [f["name"] for f in listed["files"]]


def test_a_file_list_narrows_its_session_and_leaves_the_others_whole(
    client: TestClient, world: World
) -> None:
    url = f"{BASE}/manifest"
    one = "sessions/E1/scans/2/resources/DICOM/files/0000.dcm"
    # E2 named whole, E1 through one file: all of E2, that file of E1.
    keys = manifest_keys(client, url, [("sessions", "E2"), ("files", one)])
    assert keys == set(world.select(session="E2")) | {("S1", "E1", "2", "DICOM", "0000.dcm")}
    # Files alone choose their sessions; nothing else of the project comes along.
    two = "sessions/E3/resources/QA/files/report.txt"
    keys = manifest_keys(client, url, [("files", one), ("files", two), ("files", one)])
    assert keys == {("S1", "E1", "2", "DICOM", "0000.dcm"), ("S2", "E3", None, "QA", "report.txt")}
    # With exactly one session chosen, names may be relative to it.
    keys = manifest_keys(
        client, url, [("sessions", "E3"), ("files", "scans/10/resources/DICOM/files/0001.dcm")]
    )
    assert keys == {("S2", "E3", "10", "DICOM", "0001.dcm")}
    # On a scan's route, relative to the scan; other choices still apply to the files.
    keys = manifest_keys(
        client,
        f"{BASE}/sessions/E2/scans/10/manifest",
        [("resources", "NIFTI"), ("files", "resources/NIFTI/files/sub/10.nii.gz")],
    )
    assert keys == {("S1", "E2", "10", "NIFTI", "sub/10.nii.gz")}


def test_a_project_download_of_files_is_named_after_their_session(
    client: TestClient, world: World
) -> None:
    chosen = ["sessions/E2/scans/1/resources/DICOM/files/0000.dcm"]
    r = client.get(f"{BASE}/download", params={"format": "tar", "files": chosen}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="P1-E2.tar"'
    key = ("S1", "E2", "1", "DICOM", "0000.dcm")
    expected = expected_names({key: world.files[key]}, Layout.TREE)
    check_manifest(read_archive("tar", r.content), expected)
    events = client.get("/api/v1/audit?action=download.*", auth=ADMIN).json()["items"]
    assert events[0]["detail"]["selection"] == {"files": chosen}
    assert events[0]["detail"]["files"] == 1


REFUSED = [
    # Not there: 404 naming every missing file (and only those).
    (
        E1,
        ["scans/1/resources/DICOM/files/0000.dcm", "scans/1/resources/DICOM/files/9.dcm"],
        404,
        ["'scans/1/resources/DICOM/files/9.dcm'"],
    ),
    (E1, ["scans/77/resources/DICOM/files/0000.dcm"], 404, ["scans/77/"]),
    (E1, ["resources/NIFTI/files/sub/1.nii.gz"], 404, ["resources/NIFTI/"]),  # a scan's
    (BASE, ["sessions/E9/resources/QA/files/report.txt"], 404, ["sessions/E9/"]),
    # Not a name on this route, or not a name at all: 422 naming it.
    (E1, ["sessions/E1/resources/QA/files/report.txt"], 422, ["expected [scans/"]),
    (E1, ["resources/QA/files/../../../../etc/passwd"], 422, ["'.' or '..'"]),
    (E1, ["resources/QA/files//etc/passwd"], 422, ["must be relative"]),
    (E1, ["resources/QA/files/a//b"], 422, ["empty parts"]),
    (E1, ["resources/Q A/files/report.txt"], 422, ["letters, digits"]),
    (E1, ["/etc/passwd"], 422, ["'/etc/passwd' is not a file name here"]),
    (E1, ["QA/report.txt"], 422, ["not a file name here"]),
    (f"{E1}/scans/1", ["scans/1/resources/DICOM/files/0000.dcm"], 422, ["expected resources/"]),
    (BASE, ["resources/QA/files/report.txt"], 422, ["does not say its session"]),
    (BASE, ["subjects/S1/resources/FORMS/files/consent.pdf"], 422, ["not a file name"]),
]


def test_wrong_or_missing_files_are_refused_by_name(client: TestClient, world: World) -> None:
    """Every refusal comes before the first byte, in the JSON error shape, with
    ``field: "files"`` and the names at fault (a missing file's neighbours not among them)."""
    for route, chosen, status, said in REFUSED:
        r = client.get(f"{route}/download", params={"files": chosen}, auth=ADMIN)
        assert r.status_code == status, (chosen, r.text)
        assert r.headers["content-type"] == "application/json"
        error = r.json()["error"]
        assert error["field"] == "files"
        for words in said:
            assert words in error["message"], (words, error)
        if status == 404:
            assert "'scans/1/resources/DICOM/files/0000.dcm'" not in error["message"]
    r = client.get(f"{E1}/manifest", params={"files": "resources/QA/files/nope"}, auth=ADMIN)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == (
        "File(s) 'resources/QA/files/nope' not found in project 'P1'."
    )


def test_a_file_the_other_choices_leave_out_is_refused(client: TestClient, world: World) -> None:
    qa = "resources/QA/files/report.txt"
    dicom = "scans/1/resources/DICOM/files/0000.dcm"
    cases = [
        (("scans", "ALL"), f"File(s) '{qa}' are left out"),
        (("resources", "DICOM"), f"File(s) '{qa}' are left out"),
        (("scan_types", "EPI"), f"File(s) '{qa}', '{dicom}' are left out"),
    ]
    for extra, said in cases:
        params = [extra, ("files", qa), ("files", dicom)]
        r = client.get(f"{E1}/manifest", params=params, auth=ADMIN)
        assert r.status_code == 422, (extra, r.text)
        error = r.json()["error"]
        assert error["field"] == "files"
        assert error["message"].startswith(said), error
    r = client.get(
        f"{BASE}/manifest",
        params={"subjects": "S2", "files": "sessions/E1/resources/QA/files/report.txt"},
        auth=ADMIN,
    )
    assert r.status_code == 422 and "left out" in r.json()["error"]["message"]


def test_outsiders_get_404_whether_or_not_the_file_exists(
    client: TestClient, world: World, actors: dict[str, tuple[str, str] | None]
) -> None:
    """P1 is private: a file of it, real or not, is 404 to an outsider, with the same
    answer as for the project itself (nothing says which files exist)."""
    answers = []
    for name in ("scans/1/resources/DICOM/files/0000.dcm", "scans/1/resources/DICOM/files/9.dcm"):
        r = client.get(f"{E1}/download", params={"files": name}, auth=actors["outsider"])
        assert r.status_code == 404, r.text
        answers.append(r.json())
    assert answers[0] == answers[1]
    assert answers[0] == client.get(f"{E1}/download", auth=actors["outsider"]).json()
    name = "scans/1/resources/DICOM/files/0000.dcm"
    r = client.get(f"{E1}/download", params={"files": name}, auth=actors["anonymous"])
    assert r.status_code == 401
