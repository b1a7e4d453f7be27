"""Resources and files with the real peers, unchanged: xnatpy and pyxnat against the app
behind uvicorn, and curl as XNAT's documentation writes it; every result checked against
/api/v1."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers import ADMIN, API

V1 = f"{API}/projects/P1"
SCAN_FILES = {"a.dcm": b"A" * 1000, "sub/b.dcm": b"B" * 500, "c.dcm": bytes(range(256)) * 8}


@pytest.fixture
def world(xnat_server: str, make_project: Callable[..., str]) -> dict[str, str]:
    """P1 > S1 > E1 > scans 1 (T1w MPRAGE) and 2 (EPI rest), each with DICOM files."""
    make_project(label="P1")
    with httpx.Client(base_url=xnat_server, auth=ADMIN) as http:
        assert http.post(f"{V1}/subjects", json={"label": "S1"}).status_code == 201
        session = {"label": "E1", "subject": "S1", "date": "2024-03-01", "modality": "MR"}
        assert http.post(f"{V1}/sessions", json=session).status_code == 201
        for scan, kind in (("1", "T1w MPRAGE"), ("2", "EPI rest")):
            body = {"id": scan, "SeriesNumber": int(scan), "SeriesDescription": kind}
            assert http.post(f"{V1}/sessions/E1/scans", json=body).status_code == 201
            for name, data in SCAN_FILES.items():
                url = f"{V1}/sessions/E1/scans/{scan}/resources/DICOM/files/{name}"
                assert http.put(url, content=data + scan.encode()).status_code == 201
        ids = {
            "subject": http.get(f"{V1}/subjects/S1").json()["id"],
            "session": http.get(f"{V1}/sessions/E1").json()["id"],
        }
    return ids


def v1_bytes(xnat_server: str, path: str) -> bytes:
    r = httpx.get(f"{xnat_server}{V1}/{path}", auth=ADMIN)
    assert r.status_code == 200, r.text
    return r.content


def tree_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def expected_scan(scan: str, kind: str) -> dict[str, bytes]:
    folder = f"E1/scans/{scan}-{kind}/resources/DICOM/files"
    return {f"{folder}/{name}": data + scan.encode() for name, data in SCAN_FILES.items()}


@pytest.mark.interop
def test_xnatpy_uploads_to_a_session_resource_and_reads_it_back(
    xnatpy: Any, world: dict[str, str], xnat_server: str, tmp_path: Path
) -> None:
    session = xnatpy("member")
    experiment = session.projects["P1"].subjects["S1"].experiments["E1"]
    resource = experiment.create_resource("NOTES", format="TXT")
    source = tmp_path / "notes.txt"
    source.write_bytes(b"scanned twice\n" * 100)
    resource.upload(source, "notes/today.txt")
    resource.upload_data("second", "second.txt")
    assert sorted(resource.files.keys()) == ["notes/today.txt", "second.txt"]
    assert resource.file_count == 2
    back = tmp_path / "back.txt"
    resource.files["notes/today.txt"].download(back)  # xnatpy checks the MD5 digest too
    assert back.read_bytes() == source.read_bytes()
    assert v1_bytes(xnat_server, "sessions/E1/resources/NOTES/files/notes/today.txt") == (
        source.read_bytes()
    )
    # Again without overwrite: refused, as XNAT refuses it. Replacing a file takes the
    # project's owner here (as under /api/v1): a member is refused, the owner replaces it.
    with pytest.raises(Exception, match="409"):
        resource.upload_data("changed", "second.txt")
    with pytest.raises(Exception, match="403"):
        resource.upload_data("changed", "second.txt", overwrite=True)
    owned = xnatpy("owner").create_object(resource.uri)
    owned.upload_data("changed", "second.txt", overwrite=True)
    assert v1_bytes(xnat_server, "sessions/E1/resources/NOTES/files/second.txt") == b"changed"
    owned.files["second.txt"].delete()
    r = httpx.get(f"{xnat_server}{V1}/sessions/E1/resources/NOTES/files/second.txt", auth=ADMIN)
    assert r.status_code == 404


@pytest.mark.interop
def test_xnatpy_download_dir_of_a_session_and_of_a_scan(
    xnatpy: Any, world: dict[str, str], xnat_server: str, tmp_path: Path
) -> None:
    session = xnatpy("collaborator")
    experiment = session.create_object(f"/data/experiments/{world['session']}")
    experiment.download_dir(tmp_path / "session", verbose=False)
    want = {**expected_scan("1", "T1w_MPRAGE"), **expected_scan("2", "EPI_rest")}
    assert tree_of(tmp_path / "session") == want
    for name, data in want.items():  # every file as /api/v1 serves it
        _, _, scan, _, _, _, path = name.split("/", 6)
        assert data == v1_bytes(
            xnat_server, f"sessions/E1/scans/{scan.split('-')[0]}/resources/DICOM/files/{path}"
        )
    experiment.scans["2"].download_dir(tmp_path / "scan", verbose=False)
    assert tree_of(tmp_path / "scan") == expected_scan("2", "EPI_rest")
    experiment.scans["1"].resources["DICOM"].download_dir(tmp_path / "res", verbose=False)
    assert tree_of(tmp_path / "res") == expected_scan("1", "T1w_MPRAGE")


@pytest.mark.interop
def test_xnatpy_clinical_data_as_a_subject_resource(
    xnatpy: Any, world: dict[str, str], xnat_server: str, tmp_path: Path
) -> None:
    """What the EUCAIM handbook asks of data holders with an XNAT reference node
    (https://eucaim.gitbook.io/handbook/transfer): clinical data as CSV or JSON files,
    stored beside the images, here as a resource of the subject."""
    session = xnatpy("member")
    subject = session.projects["P1"].subjects["S1"]
    resource = subject.create_resource("CLINICAL", format="CSV")
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("subject,age,sex,diagnosis\nS1,54,F,glioma\n")
    record = {"subject": "S1", "age": 54, "treatment": ["surgery", "radiotherapy"]}
    resource.upload(clinical, "clinical.csv", file_format="CSV", file_content="clinical")
    resource.upload_data(json.dumps(record), "clinical.json", file_format="JSON")
    assert sorted(resource.files.keys()) == ["clinical.csv", "clinical.json"]
    csv_file = resource.files["clinical.csv"]
    assert csv_file.file_format == "CSV" and csv_file.file_content == "clinical"
    out = tmp_path / "out.json"
    resource.files["clinical.json"].download(out)
    assert json.loads(out.read_text()) == record
    assert v1_bytes(xnat_server, "subjects/S1/resources/CLINICAL/files/clinical.csv") == (
        clinical.read_bytes()
    )
    # Another connection finds it by listing the subject's resources.
    again = xnatpy("collaborator").projects["P1"].subjects["S1"].resources["CLINICAL"]
    assert str(again.id) == str(resource.id) and again.label == "CLINICAL"
    assert again.files["clinical.csv"].digest == hashlib.md5(clinical.read_bytes()).hexdigest()
    # And by its site-wide ID path and its number, as xnatpy names what it has listed.
    by_number = xnatpy("collaborator").create_object(
        f"/data/subjects/{world['subject']}/resources/{resource.id}"
    )
    assert by_number.label == "CLINICAL"


@pytest.mark.interop
def test_pyxnat_file_put_get_and_listing(
    pyxnat_interface: Any, world: dict[str, str], xnat_server: str, tmp_path: Path
) -> None:
    interface = pyxnat_interface("member")
    resource = interface.select("/projects/P1/subjects/S1/experiments/E1/resources/QA")
    source = tmp_path / "qa.json"
    source.write_text('{"snr": 41.5}')
    resource.file("qa.json").put(str(source), format="JSON", content="QA")
    resource.file("plain.txt").put("text sent as the body")
    assert sorted(resource.files().get()) == ["plain.txt", "qa.json"]
    got = resource.file("qa.json").get(str(tmp_path / "back.json"))
    assert Path(got).read_bytes() == source.read_bytes()
    assert v1_bytes(xnat_server, "sessions/E1/resources/QA/files/plain.txt") == (
        b"text sent as the body"
    )
    scan_files = interface.select(
        "/projects/P1/subjects/S1/experiments/E1/scans/1/resources/DICOM/files"
    )
    # pyxnat lists files by name, the last part of their path (XNAT's "Name").
    assert sorted(scan_files.get()) == sorted(p.rsplit("/", 1)[-1] for p in SCAN_FILES)
    # A resource's zip, unpacked by pyxnat below "files/" as XNAT's zips are.
    dest = tmp_path / "dl"
    dest.mkdir()
    dicom = interface.select("/projects/P1/subjects/S1/experiments/E1/scans/1/resources/DICOM")
    paths = dicom.get(str(dest), extract=True)
    got = {str(Path(p).relative_to(dest)): Path(p).read_bytes() for p in paths}
    assert got == {f"DICOM/{name}": data + b"1" for name, data in SCAN_FILES.items()}
    interface.disconnect()


@pytest.mark.interop
def test_curl_recipes(world: dict[str, str], xnat_server: str, tmp_path: Path) -> None:
    """As XNAT's documentation writes them, run by curl itself."""
    curl = shutil.which("curl", path="/usr/bin")
    if curl is None:
        pytest.skip("curl is not installed")
    user = f"member:{PASSWORD}"
    base = f"{xnat_server}/data/projects/P1/subjects/S1/experiments/E1"
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 not really\n")

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run([curl, "-sS", "-f", "-u", user, *args], capture_output=True)
        assert done.returncode == 0, done.stderr
        return done

    run("-X", "PUT", f"{base}/resources/REPORTS?format=PDF")
    run(
        "-X",
        "PUT",
        "--data-binary",
        f"@{report}",
        f"{base}/resources/REPORTS/files/r1.pdf?inbody=true",
    )
    run("-X", "POST", "-F", f"file=@{report}", f"{base}/resources/REPORTS/files/r2.pdf")
    listing = run(f"{base}/resources/REPORTS/files?format=csv").stdout.decode()
    assert listing.splitlines()[0].startswith("Name,Size,URI")
    assert {line.split(",")[0] for line in listing.splitlines()[1:]} == {"r1.pdf", "r2.pdf"}
    archive = run(f"{base}/scans/ALL/files?format=zip").stdout
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = set(z.namelist())
    assert names == {*expected_scan("1", "T1w_MPRAGE"), *expected_scan("2", "EPI_rest")}
    for name in ("r1.pdf", "r2.pdf"):
        assert v1_bytes(xnat_server, f"sessions/E1/resources/REPORTS/files/{name}") == (
            report.read_bytes()
        )
