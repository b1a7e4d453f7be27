"""Downloads of a released version (docs/dataset-access.md, "Downloading"): asked,
approved, downloaded through the API (exactly the release: manifest.json first, files
named by their path in the release, bytes and checksums as the manifest says), revoked,
refused; a file that no longer matches the manifest stops the download."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from scandepot.catalog.access import AuditEvent
from scandepot.catalog.datasets import DatasetFile, DatasetVersion, VersionState
from scandepot.context import Context
from scandepot.datasets import download
from scandepot.errors import Conflict, Forbidden
from scandepot.export.archives import Format, SourceChanged
from tests.datasets.released import Released

API = "/api/v1"
PURPOSE = "Training a segmentation model for hippocampal atrophy."


def _release_files(ctx: Context, made: Released) -> dict[str, tuple[int, str]]:
    with ctx.db.read() as db:
        rows = db.execute(
            select(DatasetFile.path, DatasetFile.size, DatasetFile.sha256).where(
                DatasetFile.version_id == made.version_id
            )
        ).all()
    return {path: (size, sha256) for path, size, sha256 in rows}


def _members(body: bytes, fmt: str) -> list[tuple[str, bytes]]:
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            assert zf.testzip() is None
            return [(i.filename, zf.read(i)) for i in zf.infolist()]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tf:
        found = []
        for info in tf.getmembers():
            handle = tf.extractfile(info)
            assert handle is not None
            found.append((info.name, handle.read()))
        return found


def _check_exact(members: list[tuple[str, bytes]], expected: dict[str, tuple[int, str]]) -> None:
    names = [name for name, _ in members]
    assert names[:2] == ["manifest.json", "manifest.sha256"]
    manifest = json.loads(members[0][1])
    listed = {f["name"]: (f["size"], f["sha256"]) for f in manifest["files"]}
    assert listed == expected and manifest["file_count"] == len(expected)
    files = dict(members[2:])
    assert set(files) == set(expected)
    for name, data in files.items():
        assert (len(data), hashlib.sha256(data).hexdigest()) == expected[name], name
    sums = members[1][1].decode().splitlines()
    assert sorted(sums) == sorted(f"{sha}  {name}" for name, (_, sha) in expected.items())


def test_ask_approve_download_revoke(
    ctx: Context, client: TestClient, actors: dict[str, Any], published: Released
) -> None:
    base = f"{API}/datasets/{published.dataset}/versions/1"
    r = client.get(f"{base}/download", auth=actors["member"])
    assert r.status_code == 403, r.text
    r = client.post(f"{base}/access-requests", json={"purpose": PURPOSE}, auth=actors["member"])
    assert r.status_code == 201, r.text
    asked = r.json()
    assert r.headers["location"] == asked["url"] and asked["state"] == "pending"
    r = client.post(f"{asked['url']}/approve", auth=actors["member"])  # not an owner
    assert r.status_code == 403, r.text
    r = client.post(f"{asked['url']}/approve", json={"comment": "ok"}, auth=actors["owner"])
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    expected = _release_files(ctx, published)
    assert len(expected) == 8
    for fmt in ("zip", "tar", "tar.gz"):
        r = client.get(f"{base}/download", params={"format": fmt}, auth=actors["member"])
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == (
            f'attachment; filename="{published.dataset}-v1.{fmt}"'
        )
        if fmt != "tar.gz":
            assert int(r.headers["content-length"]) == len(r.content)
        _check_exact(_members(r.content, fmt), expected)
    r = client.get(f"{API}/dataset-requests", auth=actors["member"])
    assert [i["state"] for i in r.json()["items"]] == ["approved"]
    r = client.post(f"{asked['url']}/revoke", auth=actors["owner"])
    assert r.status_code == 200 and r.json()["state"] == "revoked", r.text
    r = client.get(f"{base}/download", auth=actors["member"])
    assert r.status_code == 403, r.text
    with ctx.db.read() as db:
        downloads = db.scalars(
            select(AuditEvent.target).where(AuditEvent.action == "dataset.downloaded")
        ).all()
    assert downloads == [f"dataset {published.dataset} v1"] * 3


def test_a_refused_request_downloads_nothing(
    client: TestClient, actors: dict[str, Any], published: Released
) -> None:
    base = f"{API}/datasets/{published.name}/versions/1"
    r = client.post(f"{base}/access-requests", json={"purpose": PURPOSE}, auth=actors["member"])
    r = client.post(f"{r.json()['url']}/refuse", auth=actors["owner"])
    assert r.status_code == 200 and r.json()["state"] == "refused", r.text
    assert client.get(f"{base}/download", auth=actors["member"]).status_code == 403
    assert client.get(f"{base}/download", auth=actors["anonymous"]).status_code == 401
    r = client.post(f"{base}/access-requests", json={"purpose": "x"}, auth=actors["member"])
    assert r.status_code == 422 and r.json()["error"]["field"] == "purpose", r.text


def test_the_owners_download_and_a_withdrawn_version_is_refused(
    ctx: Context, people: dict[str, Any], published: Released, monkeypatch: pytest.MonkeyPatch
) -> None:
    for fmt in (Format.TAR, Format.ZIP):
        made = download.prepare(ctx, people["owner"], published.dataset, 1, fmt)
        body = b"".join(made.chunks())
        assert len(body) == made.length
        _check_exact(_members(body, fmt.value), _release_files(ctx, published))
    monkeypatch.setattr(download, "WHOLE", 0)  # every file hashed first, then sent
    made = download.prepare(ctx, people["owner"], published.dataset, 1, Format.ZIP)
    body = b"".join(made.chunks())
    assert len(body) == made.length
    _check_exact(_members(body, "zip"), _release_files(ctx, published))
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, published.version_id)
        assert version is not None
        version.state = VersionState.WITHDRAWN.value
    with pytest.raises(Conflict, match="was withdrawn"):
        download.prepare(ctx, people["owner"], published.dataset, 1, Format.ZIP)
    with pytest.raises(Forbidden):
        download.prepare(ctx, people["member"], published.dataset, 1, Format.ZIP)


@pytest.mark.parametrize(
    ("fmt", "whole"), [(Format.ZIP, True), (Format.TAR_GZ, True), (Format.ZIP, False)]
)
def test_a_file_that_no_longer_matches_stops_the_download(
    ctx: Context,
    people: dict[str, Any],
    published: Released,
    fmt: Format,
    whole: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same size, other bytes: the download stops at that file, none of whose bytes (nor
    its header) is sent, and the archive gets no closing records; whether a file is read
    whole into memory, or (``whole`` False, as a large one) hashed and then sent."""
    if not whole:
        monkeypatch.setattr(download, "WHOLE", 0)
    files = sorted(ctx.store.archive.rglob("*.dcm"))
    before, changed = files[0], files[len(files) // 2]
    data = bytearray(changed.read_bytes())
    data[-16:] = b"\xa5" * 16
    changed.write_bytes(bytes(data))
    made = download.prepare(ctx, people["owner"], published.dataset, 1, fmt)
    with pytest.raises(SourceChanged, match="does not match the release's manifest"):
        b"".join(made.chunks())
    if fmt is Format.ZIP:
        sent = bytearray()
        with pytest.raises(SourceChanged, match=r"\(SHA-256\)"):
            for piece in made.pieces():
                sent += piece
        assert before.read_bytes() in sent  # files before it went out whole
        assert b"\xa5" * 16 not in sent
        with pytest.raises(zipfile.BadZipFile):
            zipfile.ZipFile(io.BytesIO(bytes(sent)))
