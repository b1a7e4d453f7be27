"""Single-file upload and download: checksums, ETag, Range, overwrite, bad paths."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scandepot.catalog.archive import File
from scandepot.context import Context
from tests.helpers import ADMIN, API, create_tree, scan_files_url

BODY = os.urandom(300_000)


@pytest.fixture
def tree(client: TestClient, users: object) -> None:
    create_tree(client)


def test_round_trip_with_checksums(client: TestClient, ctx: Context, tree: None) -> None:
    r = client.put(
        f"{scan_files_url()}/dir/img 1.dcm?format=DICOM&content=RAW", content=BODY, auth=ADMIN
    )
    assert r.status_code == 201, r.text
    meta = r.json()
    assert meta["size"] == len(BODY)
    assert meta["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert meta["md5"] == hashlib.md5(BODY).hexdigest()
    assert (meta["format"], meta["content"], meta["created"]) == ("DICOM", "RAW", True)

    got = client.get(f"{scan_files_url()}/dir/img 1.dcm", auth=ADMIN)
    assert got.status_code == 200
    assert got.content == BODY
    assert got.headers["etag"] == f'"{meta["sha256"]}"'
    digest = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert got.headers["repr-digest"] == f"sha-256=:{digest}:"

    listing = client.get(scan_files_url(), auth=ADMIN).json()
    assert [f["path"] for f in listing["items"]] == ["dir/img 1.dcm"]
    resource = client.get(
        f"{API}/projects/P1/sessions/E1/scans/1/resources/DICOM", auth=ADMIN
    ).json()
    assert (resource["file_count"], resource["size"]) == (1, len(BODY))
    on_disk = ctx.store.archive / "P1/subjects/S1/sessions/E1/scans/1/resources/DICOM/files"
    assert (on_disk / "dir" / "img 1.dcm").read_bytes() == BODY


@pytest.mark.parametrize(
    "level_url",
    [
        f"{API}/projects/P1/resources/R/files",
        f"{API}/projects/P1/subjects/S1/resources/R/files",
        f"{API}/projects/P1/sessions/E1/resources/R/files",
        f"{API}/projects/P1/sessions/E1/scans/1/resources/R/files",
    ],
)
def test_every_level_takes_files(client: TestClient, tree: None, level_url: str) -> None:
    assert client.put(f"{level_url}/x.txt", content=b"x", auth=ADMIN).status_code == 201
    assert client.get(f"{level_url}/x.txt", auth=ADMIN).content == b"x"
    resources_url = level_url.rsplit("/resources/", 1)[0] + "/resources"
    assert [r["label"] for r in client.get(resources_url, auth=ADMIN).json()] == ["R"]


def test_range_requests(client: TestClient, tree: None) -> None:
    url = f"{scan_files_url()}/a.bin"
    client.put(url, content=BODY, auth=ADMIN)
    r = client.get(url, headers={"range": "bytes=100-199"}, auth=ADMIN)
    assert r.status_code == 206
    assert r.content == BODY[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(BODY)}"
    tail = client.get(url, headers={"range": "bytes=-10"}, auth=ADMIN)
    assert tail.status_code == 206 and tail.content == BODY[-10:]
    # Resuming: If-Range with the current ETag gives the rest, a stale one the whole file.
    etag = r.headers["etag"]
    rest = client.get(url, headers={"range": "bytes=1000-", "if-range": etag}, auth=ADMIN)
    assert rest.status_code == 206 and rest.content == BODY[1000:]
    stale = client.get(url, headers={"range": "bytes=1000-", "if-range": '"old"'}, auth=ADMIN)
    assert stale.status_code == 200 and stale.content == BODY
    beyond = client.get(url, headers={"range": f"bytes={len(BODY) + 5}-"}, auth=ADMIN)
    assert beyond.status_code == 416


def test_etag_and_conditional_get(client: TestClient, tree: None) -> None:
    url = f"{scan_files_url()}/a.bin"
    client.put(url, content=b"v1", auth=ADMIN)
    etag = client.get(url, auth=ADMIN).headers["etag"]
    r = client.get(url, headers={"if-none-match": etag}, auth=ADMIN)
    assert r.status_code == 304 and r.content == b""
    head = client.head(url, auth=ADMIN)
    assert head.status_code == 200 and head.headers["content-length"] == "2"


def test_overwrite_only_when_asked(client: TestClient, ctx: Context, tree: None) -> None:
    url = f"{scan_files_url()}/a.bin"
    client.put(url, content=b"first", auth=ADMIN)
    r = client.put(url, content=b"second", auth=ADMIN)
    assert r.status_code == 409
    assert client.get(url, auth=ADMIN).content == b"first"
    r = client.put(f"{url}?overwrite=true", content=b"second", auth=ADMIN)
    assert r.status_code == 200 and r.json()["created"] is False
    assert client.get(url, auth=ADMIN).content == b"second"
    assert r.json()["sha256"] == hashlib.sha256(b"second").hexdigest()
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(File.id))) == 1
    assert list(ctx.store.tmp.iterdir()) == []


def test_declared_digest_is_verified(client: TestClient, ctx: Context, tree: None) -> None:
    url = f"{scan_files_url()}/a.bin"
    good = base64.b64encode(hashlib.sha256(b"data").digest()).decode()
    bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    r = client.put(url, content=b"data", headers={"content-digest": f"sha-256=:{bad}:"}, auth=ADMIN)
    assert r.status_code == 422 and r.json()["error"]["field"] == "body"
    assert client.get(url, auth=ADMIN).status_code == 404
    md5 = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    r = client.put(
        url,
        content=b"data",
        headers={"content-digest": f"sha-256=:{good}:", "content-md5": md5},
        auth=ADMIN,
    )
    assert r.status_code == 201
    r = client.put(
        f"{scan_files_url()}/b.bin", content=b"x", headers={"content-digest": "garbage"}, auth=ADMIN
    )
    assert r.status_code == 422
    assert list(ctx.store.tmp.iterdir()) == []


def test_a_name_cannot_be_file_and_folder(client: TestClient, tree: None) -> None:
    client.put(f"{scan_files_url()}/a", content=b"x", auth=ADMIN)
    assert client.put(f"{scan_files_url()}/a/b", content=b"x", auth=ADMIN).status_code == 409
    client.put(f"{scan_files_url()}/c/d", content=b"x", auth=ADMIN)
    assert client.put(f"{scan_files_url()}/c", content=b"x", auth=ADMIN).status_code == 409
    # '_' and '%' in names are literal, not LIKE patterns.
    client.put(f"{scan_files_url()}/e_f/g", content=b"x", auth=ADMIN)
    assert client.put(f"{scan_files_url()}/eXf", content=b"x", auth=ADMIN).status_code == 201


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "a/..%2F..%2Fx",
        "%2Fetc%2Fpasswd",
        "a%00b",
        "a%5Cb",
        "..%5Cx",
        "a%0Ab",
        "%2E/a",
        "%2E%2E/x",
    ],
)
def test_path_traversal_is_refused(client: TestClient, ctx: Context, tree: None, path: str) -> None:
    r = client.put(f"{scan_files_url()}/{path}", content=b"evil", auth=ADMIN)
    assert r.status_code in (404, 422), r.text
    assert "error" in r.json()
    r = client.get(f"{scan_files_url()}/{path}", auth=ADMIN)
    assert r.status_code in (404, 422)
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(File.id))) == 0
    written = [
        p
        for p in ctx.store.data_dir.rglob("*")
        if p.is_file() and p.name not in {"scandepot.db", "scandepot.db-wal", "scandepot.db-shm"}
    ]
    assert written == []


def test_delete_file(client: TestClient, ctx: Context, tree: None) -> None:
    url = f"{scan_files_url()}/a.bin"
    client.put(url, content=b"x", auth=ADMIN)
    assert client.delete(url, auth=ADMIN).status_code == 204
    assert client.get(url, auth=ADMIN).status_code == 404
    assert client.delete(url, auth=ADMIN).status_code == 404
    assert not any(p.is_file() for p in ctx.store.archive.rglob("*"))


def test_delete_resource(client: TestClient, ctx: Context, tree: None) -> None:
    client.put(f"{scan_files_url()}/a.bin", content=b"x", auth=ADMIN)
    url = f"{API}/projects/P1/sessions/E1/scans/1/resources/DICOM"
    assert client.delete(url, auth=ADMIN).status_code == 204
    assert client.get(url, auth=ADMIN).status_code == 404
    assert not any(p.is_file() for p in ctx.store.archive.rglob("*"))


def test_upload_to_unknown_parents(client: TestClient, tree: None) -> None:
    for url in [
        f"{API}/projects/NOPE/resources/R/files/x",
        f"{API}/projects/P1/subjects/NOPE/resources/R/files/x",
        f"{API}/projects/P1/sessions/NOPE/resources/R/files/x",
        f"{API}/projects/P1/sessions/E1/scans/99/resources/R/files/x",
    ]:
        r = client.put(url, content=b"x", auth=ADMIN)
        assert r.status_code == 404, url
        assert r.json()["error"]["code"] == "not_found"
    r = client.put(f"{API}/projects/P1/resources/bad%20label/files/x", content=b"x", auth=ADMIN)
    assert r.status_code == 422 and r.json()["error"]["field"] == "resource"
