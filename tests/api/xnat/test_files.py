"""Resources and files through the XNAT-compatible API, as curl recipes and scripts call
them; each result checked against /api/v1."""

from __future__ import annotations

import html
import io
import tarfile
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from tests.helpers import ADMIN, API, scan_files_url

MEMBER = ("member", "correct-horse-battery")
COLLABORATOR = ("collaborator", "correct-horse-battery")
V1_SESSION = f"{API}/projects/P1/sessions/E1"


def ids(client: TestClient) -> tuple[str, str]:
    """The site-wide IDs of subject S1 and session E1."""
    subject = client.get(f"{API}/projects/P1/subjects/S1", auth=ADMIN).json()
    session = client.get(V1_SESSION, auth=ADMIN).json()
    return subject["id"], session["id"]


@pytest.fixture
def tree(client: TestClient, make_project: Callable[..., str]) -> tuple[str, str]:
    """P1 (private; owner, member, collaborator) > S1 > E1 > scan 1 with DICOM a.dcm and
    sub/b.dcm; the site-wide IDs of S1 and E1."""
    make_project(label="P1")
    r = client.post(f"{API}/projects/P1/subjects", json={"label": "S1"}, auth=ADMIN)
    assert r.status_code == 201, r.text
    session = {"label": "E1", "subject": "S1", "date": "2024-03-01", "modality": "MR"}
    r = client.post(f"{API}/projects/P1/sessions", json=session, auth=ADMIN)
    assert r.status_code == 201, r.text
    scan = {"id": "1", "SeriesNumber": 1, "SeriesDescription": "T1w MPRAGE", "Modality": "MR"}
    r = client.post(f"{V1_SESSION}/scans", json=scan, auth=ADMIN)
    assert r.status_code == 201, r.text
    for name, body in (("a.dcm", b"A" * 100), ("sub/b.dcm", b"B" * 50)):
        r = client.put(f"{scan_files_url()}/{name}", content=body, auth=ADMIN)
        assert r.status_code == 201, r.text
    return ids(client)


def result(r: Any) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    rows: list[dict[str, str]] = r.json()["ResultSet"]["Result"]
    return rows


def session_paths(session_id: str) -> list[str]:
    return [
        "/data/projects/P1/experiments/E1",
        f"/data/projects/P1/experiments/{session_id}",
        "/data/projects/P1/subjects/S1/experiments/E1",
        f"/data/experiments/{session_id}",
        f"/REST/experiments/{session_id}",
    ]


def test_resource_listing_in_every_path_form(client: TestClient, tree: tuple[str, str]) -> None:
    _, session_id = tree
    v1 = client.get(f"{API}/projects/P1/sessions/E1/scans/1/resources", auth=ADMIN).json()
    for base in session_paths(session_id):
        rows = result(client.get(f"{base}/scans/1/resources?format=json", auth=ADMIN))
        assert [r["label"] for r in rows] == [v["label"] for v in v1] == ["DICOM"]
        assert rows[0]["file_count"] == "2" and rows[0]["file_size"] == "150"
        assert rows[0]["element_name"] == "xnat:resourceCatalog"
        assert "URI" not in rows[0] and "ID" not in rows[0]  # xnatpy tells resources so


def test_files_listing_and_get(client: TestClient, tree: tuple[str, str]) -> None:
    _, session_id = tree
    base = f"/data/experiments/{session_id}/scans/1/resources/DICOM/files"
    rows = result(client.get(base, params={"format": "json"}, auth=ADMIN))
    assert [(r["Name"], r["Size"], r["collection"]) for r in rows] == [
        ("a.dcm", "100", "DICOM"),
        ("b.dcm", "50", "DICOM"),
    ]
    for row in rows:
        assert row["URI"].startswith(base + "/")
        got = client.get(row["URI"], auth=ADMIN)
        assert got.status_code == 200
        path = row["URI"][len(base) + 1 :]
        assert got.content == client.get(f"{scan_files_url()}/{path}", auth=ADMIN).content
        v1 = client.get(scan_files_url(), auth=ADMIN).json()["items"]
        assert row["digest"] in {f["md5"] for f in v1}
    # By the resource's number too, as xnatpy names it after listing.
    number = result(
        client.get(f"/data/experiments/{session_id}/scans/1/resources?format=json", auth=ADMIN)
    )[0]["xnat_abstractresource_id"]
    by_id = f"/data/experiments/{session_id}/scans/1/resources/{number}/files/a.dcm"
    assert client.get(by_id, auth=ADMIN).content == b"A" * 100


def test_csv_listing(client: TestClient, tree: tuple[str, str]) -> None:
    r = client.get(
        "/data/projects/P1/experiments/E1/scans/1/resources/DICOM/files?format=csv", auth=ADMIN
    )
    assert r.status_code == 200
    assert r.text.splitlines()[0].startswith("Name,Size,URI,collection")


def test_upload_inbody_overwrite_and_delete(client: TestClient, tree: tuple[str, str]) -> None:
    url = "/data/projects/P1/subjects/S1/resources/clinical/files/clinical.csv"
    r = client.put(
        url, params={"inbody": "true", "format": "CSV"}, content=b"id,age\n1,40\n", auth=MEMBER
    )
    assert r.status_code == 200, r.text
    v1 = f"{API}/projects/P1/subjects/S1/resources/clinical/files/clinical.csv"
    assert client.get(v1, auth=ADMIN).content == b"id,age\n1,40\n"
    # Again without overwrite: XNAT's 409, the file unchanged.
    r = client.put(url, params={"inbody": "true"}, content=b"other", auth=ADMIN)
    assert r.status_code == 409
    assert "already exists" in r.text
    assert client.get(v1, auth=ADMIN).content == b"id,age\n1,40\n"
    r = client.put(url, params={"inbody": "true", "overwrite": "true"}, content=b"new", auth=ADMIN)
    assert r.status_code == 200
    assert client.get(url, auth=ADMIN).content == b"new"
    listing = result(
        client.get("/data/projects/P1/subjects/S1/resources/clinical/files?format=json", auth=ADMIN)
    )
    assert listing[0]["file_format"] == "CSV"
    assert client.delete(url, auth=ADMIN).status_code == 200
    assert client.get(v1, auth=ADMIN).status_code == 404


def test_form_upload(client: TestClient, tree: tuple[str, str]) -> None:
    """curl -F "file=@notes.json" .../files/notes.json, and a form without a path."""
    url = "/data/projects/P1/resources/docs/files"
    r = client.put(f"{url}/notes.json", files={"file": ("x.json", b'{"a": 1}')}, auth=ADMIN)
    assert r.status_code == 200, r.text
    r = client.post(url, files=[("f", ("one.txt", b"1")), ("g", ("two.txt", b"22"))], auth=ADMIN)
    assert r.status_code == 200, r.text
    rows = result(client.get(f"{url}?format=json", auth=ADMIN))
    assert {r["path"]: r["Size"] for r in rows} == {
        "notes.json": "8",
        "one.txt": "1",
        "two.txt": "2",
    }
    assert (
        client.get(f"{API}/projects/P1/resources/docs/files/notes.json", auth=ADMIN).content
        == b'{"a": 1}'
    )


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, body in entries.items():
            z.writestr(name, body)
    return out.getvalue()


def test_extract_zip_and_tar(client: TestClient, tree: tuple[str, str]) -> None:
    base = "/data/projects/P1/experiments/E1/resources/NIFTI/files"
    body = _zip({"a/x.nii": b"x" * 10, "y.json": b"{}"})
    r = client.put(
        f"{base}/up.zip", params={"extract": "true", "inbody": "true"}, content=body, auth=ADMIN
    )
    assert r.status_code == 200, r.text
    rows = result(client.get(f"{base}?format=json", auth=ADMIN))
    assert sorted(r["path"] for r in rows) == ["a/x.nii", "y.json"]
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz") as t:
        info = tarfile.TarInfo("t.txt")
        info.size = 3
        t.addfile(info, io.BytesIO(b"tar"))
    r = client.put(
        f"{base}/more/t.tar.gz?extract=true",
        files={"file": ("t.tar.gz", tar.getvalue())},
        auth=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert (
        client.get(
            f"{API}/projects/P1/sessions/E1/resources/NIFTI/files/more/t.txt", auth=ADMIN
        ).content
        == b"tar"
    )


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ({"../evil.txt": b"x"}, ".."),
        ({"/abs.txt": b"x"}, "absolute"),
        ({"ok.txt": b"x", "y.json": b"clash"}, "already exists"),
    ],
)
def test_bad_archives_leave_nothing(
    client: TestClient, tree: tuple[str, str], entries: dict[str, bytes], words: str
) -> None:
    base = "/data/projects/P1/experiments/E1/resources/NIFTI/files"
    r = client.put(f"{base}/y.json", params={"inbody": "true"}, content=b"{}", auth=ADMIN)
    assert r.status_code == 200
    r = client.put(f"{base}/bad.zip?extract=true&inbody=true", content=_zip(entries), auth=ADMIN)
    assert r.status_code in (400, 409), r.text
    assert words in html.unescape(r.text)
    rows = result(client.get(f"{base}?format=json", auth=ADMIN))
    assert [r["path"] for r in rows] == ["y.json"]


def test_zip_with_a_link_is_refused(client: TestClient, tree: tuple[str, str]) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
        z.writestr("fine.txt", b"fine")
    base = "/data/projects/P1/resources/R/files"
    r = client.put(f"{base}/l.zip?extract=true&inbody=true", content=out.getvalue(), auth=ADMIN)
    assert r.status_code == 400, r.text
    assert (
        client.get(f"{API}/projects/P1/resources/R/files/fine.txt", auth=ADMIN).status_code == 404
    )


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("%2E%2E/x.txt", "'..'"),  # encoded, so that no client removes it on the way
        ("a/%2E%2E/%2E%2E/x.txt", "'..'"),
        ("%2Fetc/x.txt", "absolute"),
        ("a//b.txt", "empty parts"),
        ("a%5Cb.txt", "backslashes"),
    ],
)
def test_bad_paths(client: TestClient, tree: tuple[str, str], path: str, words: str) -> None:
    r = client.put(
        f"/data/projects/P1/resources/R/files/{path}?inbody=true", content=b"x", auth=ADMIN
    )
    assert r.status_code == 400, r.text
    assert words in html.unescape(r.text)
    assert client.get(f"{API}/projects/P1/resources", auth=ADMIN).json() == []


def test_read_only_caller_may_not_write(client: TestClient, tree: tuple[str, str]) -> None:
    url = "/data/projects/P1/resources/R/files/x.txt?inbody=true"
    r = client.put(url, content=b"x", auth=COLLABORATOR)
    assert r.status_code == 403, r.text
    r = client.put("/data/projects/P1/resources/R", auth=COLLABORATOR)
    assert r.status_code == 403
    assert client.get(f"{API}/projects/P1/resources", auth=ADMIN).json() == []


def test_resource_create_and_delete(client: TestClient, tree: tuple[str, str]) -> None:
    url = "/data/projects/P1/subjects/S1/experiments/E1/resources/QA"
    r = client.put(url, params={"format": "PDF", "content": "report"}, auth=MEMBER)
    assert r.status_code == 201, r.text
    assert client.put(url, auth=MEMBER).status_code == 200  # there already
    v1 = client.get(f"{V1_SESSION}/resources/QA", auth=ADMIN).json()
    assert (v1["format"], v1["content"]) == ("PDF", "report")
    item = client.get(url, params={"format": "json"}, auth=ADMIN).json()["items"][0]
    assert item["meta"]["xsi:type"] == "xnat:resourceCatalog"
    assert item["data_fields"]["label"] == "QA"
    assert client.put(f"{url}-bad label", auth=ADMIN).status_code == 400
    assert client.delete(url, auth=MEMBER).status_code == 403
    assert client.delete(url + "?removeFiles=true", auth=ADMIN).status_code == 200
    assert client.get(f"{V1_SESSION}/resources/QA", auth=ADMIN).status_code == 404


def _names(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_zips_have_xnats_layout(client: TestClient, tree: tuple[str, str]) -> None:
    _, session_id = tree
    r = client.put(f"{scan_files_url(scan='1', resource='NIFTI')}/t1.nii", content=b"N", auth=ADMIN)
    assert r.status_code == 201
    scan = "E1/scans/1-T1w_MPRAGE/resources"
    expected = {
        f"{scan}/DICOM/files/a.dcm": b"A" * 100,
        f"{scan}/DICOM/files/sub/b.dcm": b"B" * 50,
        f"{scan}/NIFTI/files/t1.nii": b"N",
    }
    for url in (
        f"/data/experiments/{session_id}/scans/ALL/files?format=zip",
        "/data/projects/P1/experiments/E1/scans/1/files?format=zip",
        "/REST/projects/P1/subjects/S1/experiments/E1/scans/1,1/files?format=zip",
    ):
        r = client.get(url, auth=ADMIN)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert _names(r.content) == expected
    r = client.get(
        f"/data/experiments/{session_id}/scans/1/resources/DICOM/files?format=zip", auth=ADMIN
    )
    assert _names(r.content) == {k: v for k, v in expected.items() if "/DICOM/" in k}
    listing = result(
        client.get(f"/data/experiments/{session_id}/scans/ALL/files?format=json", auth=ADMIN)
    )
    assert len(listing) == 3
    for row in listing:
        assert client.get(row["URI"], auth=ADMIN).status_code == 200
    assert (
        client.get(
            f"/data/experiments/{session_id}/scans/9/files?format=zip", auth=ADMIN
        ).status_code
        == 404
    )


def test_experiment_files(client: TestClient, tree: tuple[str, str]) -> None:
    _, session_id = tree
    r = client.put(
        f"/data/experiments/{session_id}/resources/QA/files/r.txt?inbody=true",
        content=b"r",
        auth=ADMIN,
    )
    assert r.status_code == 200
    rows = result(client.get(f"/data/experiments/{session_id}/files?format=json", auth=ADMIN))
    assert [(r["collection"], r["Name"]) for r in rows] == [("QA", "r.txt")]
    assert client.get(rows[0]["URI"], auth=ADMIN).content == b"r"


def test_outsider_sees_nothing(client: TestClient, tree: tuple[str, str]) -> None:
    _, session_id = tree
    for url in (
        f"/data/experiments/{session_id}/scans/ALL/files?format=json",
        "/data/projects/P1/resources?format=json",
        f"/data/experiments/{session_id}/scans/1/resources/DICOM/files/a.dcm",
    ):
        r = client.get(url, auth=("outsider", "correct-horse-battery"))
        assert r.status_code == 404, (url, r.status_code)


def _nothing_in(client: TestClient, resource_url: str) -> None:
    r = client.get(f"{resource_url}?format=json", auth=ADMIN)
    assert r.status_code == 404 or result(r) == []


def test_extract_refuses_a_zip_bomb(
    client: TestClient, tree: tuple[str, str], ctx: Context
) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", bytes(80 * 1024 * 1024))  # deflates to about 80 kB
    assert len(out.getvalue()) < 1_000_000
    base = "/data/projects/P1/resources/BOMB/files"
    r = client.put(f"{base}/b.zip?extract=true&inbody=true", content=out.getvalue(), auth=ADMIN)
    assert r.status_code == 413, r.text
    assert "zip bomb" in html.unescape(r.text)
    _nothing_in(client, base)


def test_extract_refuses_too_many_members(
    client: TestClient, tree: tuple[str, str], ctx: Context
) -> None:
    ctx.settings.import_max_members = 3
    body = _zip({f"{i}.txt": b"x" for i in range(5)})
    base = "/data/projects/P1/resources/MANY/files"
    r = client.put(f"{base}/m.zip?extract=true&inbody=true", content=body, auth=ADMIN)
    assert r.status_code == 413, r.text
    assert "IMPORT_MAX_MEMBERS" in r.text
    _nothing_in(client, base)


def test_extract_refuses_a_truncated_archive(client: TestClient, tree: tuple[str, str]) -> None:
    body = _zip({f"{i}.txt": bytes([i]) * 5000 for i in range(10)})
    base = "/data/projects/P1/resources/CUT/files"
    r = client.put(
        f"{base}/c.zip?extract=true&inbody=true", content=body[: len(body) // 2], auth=ADMIN
    )
    assert r.status_code in (400, 422), r.text
    _nothing_in(client, base)


def test_without_extract_an_archive_is_a_file(client: TestClient, tree: tuple[str, str]) -> None:
    body = _zip({"x.txt": b"x"})
    base = "/data/projects/P1/resources/KEEP/files"
    assert client.put(f"{base}/k.zip?inbody=true", content=body, auth=ADMIN).status_code == 200
    assert client.get(f"{base}/k.zip", auth=ADMIN).content == body
