"""What was uploaded comes back byte-identical in every format and layout; the manifest
inside the archive, the manifest route and the files agree; every filter selects what it
says."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from scandepot.access.users import actor_for
from scandepot.api.v1.downloads import FILE_ROUTES
from scandepot.catalog.access import User
from scandepot.context import Context
from scandepot.export import downloads
from scandepot.export.archives import Format
from scandepot.export.downloads import ProjectTarget
from scandepot.export.layouts import Layout, Where, archive_name
from scandepot.export.selection import Selection
from scandepot.export.zip_format import Limits
from scandepot.http.responses import ZEROCOPY
from tests.conftest import LiveServer
from tests.export.conftest import BASE, World
from tests.export.test_zip_format import check_agrees
from tests.helpers import ADMIN

FORMATS = ("zip", "tar", "tar.gz")


def read_archive(fmt: str, body: bytes) -> dict[str, bytes]:
    """Every member of the archive, read with the standard library's readers (which check
    the zip CRCs and the gzip trailer)."""
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            assert z.testzip() is None
            return {name: z.read(name) for name in z.namelist()}
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz" if fmt == "tar.gz" else "r:") as t:
        out = {}
        for member in t.getmembers():
            assert member.isfile()
            fh = t.extractfile(member)
            assert fh is not None
            out[member.name] = fh.read()
        return out


def expected_names(world_files: dict, layout: Layout) -> dict[str, bytes]:
    return {
        archive_name(layout, Where(subject, session, scan, _type(scan), resource, path)): body
        for (subject, session, scan, resource, path), body in world_files.items()
    }


def _type(scan: str | None) -> str | None:
    from tests.export.conftest import SCANS

    return SCANS[scan] if scan is not None else None


def check_manifest(members: dict[str, bytes], expected: dict[str, bytes]) -> dict:
    manifest = json.loads(members.pop("manifest.json"))
    sums = members.pop("manifest.sha256").decode()
    assert members == expected
    assert manifest["file_count"] == len(expected)
    assert manifest["total_size"] == sum(len(b) for b in expected.values())
    for item in manifest["files"]:
        body = expected[item["name"]]
        assert item["size"] == len(body)
        assert item["sha256"] == hashlib.sha256(body).hexdigest()
        assert item["md5"] == hashlib.md5(body).hexdigest()
    assert sums.splitlines() == [f"{f['sha256']}  {f['name']}" for f in manifest["files"]]
    return manifest


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", list(Layout))
def test_session_round_trip(client: TestClient, world: World, fmt: str, layout: Layout) -> None:
    r = client.get(f"{BASE}/sessions/E1/download?format={fmt}&layout={layout}", auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == f'attachment; filename="P1-E1.{fmt}"'
    members = read_archive(fmt, r.content)
    assert list(members)[:2] == ["manifest.json", "manifest.sha256"]
    expected = expected_names(world.select(session="E1"), layout)
    manifest = check_manifest(members, expected)
    api = client.get(f"{BASE}/sessions/E1/manifest?layout={layout}", auth=ADMIN).json()
    assert {k: v for k, v in api.items() if k != "created"} == {
        k: v for k, v in manifest.items() if k != "created"
    }


def noting_zero_copy(app: Any, counts: list[int]) -> Any:
    """``app`` with the byte count of each zero-copy send of its responses written down
    (the ASGI extension ``scandepot serve``'s server carries out with sendfile(2))."""

    async def noted(scope: Any, receive: Any, send: Any) -> None:
        async def note(message: dict[str, Any]) -> None:
            if message["type"] == ZEROCOPY:
                counts.append(message["count"])
            await send(message)

        await app(scope, receive, note)

    return noted


@pytest.mark.parametrize("fmt", ["tar", "zip"])
@pytest.mark.parametrize("layout", [Layout.TREE, Layout.FLAT])
def test_over_the_real_server_files_are_sent_from_the_files(
    world: World, app: Any, fmt: str, layout: Layout
) -> None:
    """Behind `scandepot serve`'s HTTP server each file of a tar or zip goes out as one
    zero-copy send (which that server makes with sendfile(2), tests/http/test_server.py),
    with Content-Length, and the archive is the same as the one read through Python."""
    counts: list[int] = []
    with LiveServer(noting_zero_copy(app, counts)) as server:
        url = f"{server.url}{BASE}/sessions/E1/download?format={fmt}&layout={layout}"
        r = httpx.get(url, auth=ADMIN, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-length"] == str(len(r.content))
    expected = expected_names(world.select(session="E1"), layout)
    check_manifest(read_archive(fmt, r.content), expected)
    if fmt == "zip":
        check_agrees(r.content)  # sizes and CRC in the local headers, as in the directory
    assert sorted(counts) == sorted(len(body) for body in expected.values())


@pytest.mark.interop
@pytest.mark.parametrize("fmt", FORMATS)
def test_real_tools_read_the_archive(
    client: TestClient, world: World, fmt: str, tmp_path: Path
) -> None:
    """unzip and tar extract it (gzip -t tests a tar.gz), and sha256sum -c accepts it."""
    tool = "unzip" if fmt == "zip" else "tar"
    if shutil.which(tool) is None or shutil.which("sha256sum") is None:
        pytest.fail(f"{tool} and sha256sum are needed (Debian packages unzip, tar, coreutils)")
    body = client.get(f"{BASE}/download?format={fmt}", auth=ADMIN).content
    archive = tmp_path / f"a.{fmt}"
    archive.write_bytes(body)
    out = tmp_path / "out"
    out.mkdir()
    if fmt == "zip":
        subprocess.run(["unzip", "-q", str(archive), "-d", str(out)], check=True)
    else:
        if fmt == "tar.gz":  # a plain gzip member, whatever deflate made it
            subprocess.run(["gzip", "-t", str(archive)], check=True)
        subprocess.run(
            ["tar", "-xzf" if fmt == "tar.gz" else "-xf", str(archive), "-C", str(out)], check=True
        )
    subprocess.run(["sha256sum", "--quiet", "-c", "manifest.sha256"], cwd=out, check=True)
    for name, content in expected_names(world.files_below_sessions(), Layout.TREE).items():
        assert (out / name).read_bytes() == content


@pytest.mark.interop
def test_zip64_records(ctx: Context, world: World, users: dict[str, User], tmp_path: Path) -> None:
    """A download made with the ZIP64 threshold lowered has ZIP64 records for every entry
    and its end, as one over 2 GiB does; readers still take it, and the length announced
    before it was made is its length."""
    target = ProjectTarget("P1", Selection(sessions=("E1",)))
    download = downloads.prepare(
        ctx,
        actor_for(users["admin"]),
        target,
        Layout.TREE,
        Format.ZIP,
        routes=FILE_ROUTES,
        zip_limits=Limits(size=100),
    )
    body = b"".join(download.chunks())
    assert download.length == len(body)
    assert body.rfind(zipfile.stringEndArchive64) > 0
    check_agrees(body)
    members = read_archive("zip", body)
    check_manifest(members, expected_names(world.select(session="E1"), Layout.TREE))
    archive = tmp_path / "a.zip"
    archive.write_bytes(body)
    subprocess.run(["unzip", "-tq", str(archive)], check=True, capture_output=True)


def names(client: TestClient, query: str, url: str = f"{BASE}/manifest") -> set[tuple]:
    r = client.get(f"{url}?{query}", auth=ADMIN)
    assert r.status_code == 200, r.text
    return {
        (f["subject"], f["session"], f["scan"], f["resource"], f["path"]) for f in r.json()["files"]
    }


def test_selection_filters(client: TestClient, world: World) -> None:
    below = world.files_below_sessions()
    assert names(client, "") == set(below)
    assert names(client, "sessions=E1,E3") == set(world.select(session={"E1", "E3"}))
    assert names(client, "sessions=E1&sessions=E3") == set(world.select(session={"E1", "E3"}))
    assert names(client, "subjects=S2") == set(world.select(session="E3"))
    assert names(client, "date_from=2024-04-01") == set(world.select(session={"E2", "E3"}))
    assert names(client, "date_to=2024-03-31") == set(world.select(session="E1"))
    assert names(client, "resources=NIFTI,QA") == set(world.select(resource={"NIFTI", "QA"}))
    # Choosing scans leaves session-level resources out.
    assert names(client, "scans=ALL") == {k for k in below if k[2] is not None}
    assert names(client, "scans=1,10&resources=DICOM") == set(
        world.select(scan={"1", "10"}, resource="DICOM")
    )
    assert names(client, "scan_types=^EPI") == set(world.select(scan={"2", "10"}))
    assert names(client, "scan_types=(?i)mprage&sessions=E2") == set(
        world.select(scan="1", session="E2")
    )


def test_scan_and_resource_downloads(client: TestClient, world: World) -> None:
    scan = f"{BASE}/sessions/E2/scans/10"
    assert names(client, "", f"{scan}/manifest") == set(world.select(session="E2", scan="10"))
    assert names(client, "resources=NIFTI", f"{scan}/manifest") == set(
        world.select(session="E2", scan="10", resource="NIFTI")
    )
    assert names(client, "", f"{scan}/resources/DICOM/manifest") == set(
        world.select(session="E2", scan="10", resource="DICOM")
    )
    assert names(client, "", f"{BASE}/sessions/E1/resources/QA/manifest") == set(
        world.select(session="E1", resource="QA")
    )
    assert names(client, "", f"{BASE}/subjects/S1/resources/FORMS/manifest") == set(
        world.select(resource="FORMS")
    )
    r = client.get(f"{scan}/download?format=tar", auth=ADMIN)
    assert r.headers["content-disposition"] == 'attachment; filename="P1-E2-10.tar"'
    members = read_archive("tar", r.content)
    check_manifest(members, expected_names(world.select(session="E2", scan="10"), Layout.TREE))
    r = client.get(f"{BASE}/subjects/S1/resources/FORMS/download?format=zip", auth=ADMIN)
    assert r.headers["content-disposition"] == 'attachment; filename="P1-S1-FORMS.zip"'
    assert read_archive("zip", r.content)["S1/resources/FORMS/files/consent.pdf"] == b"consent"


def test_manifest_urls_fetch_the_files(client: TestClient, world: World) -> None:
    for item in client.get(f"{BASE}/manifest", auth=ADMIN).json()["files"]:
        r = client.get(item["url"], auth=ADMIN)
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == item["sha256"]


def test_a_download_is_audited(client: TestClient, world: World) -> None:
    url = f"{BASE}/sessions/E1/download?format=tar&resources=DICOM&scans=1,2"
    assert client.get(url, auth=ADMIN).status_code == 200
    events = client.get("/api/v1/audit?action=download.*", auth=ADMIN).json()["items"]
    assert len(events) == 1
    event = events[0]
    assert (event["action"], event["project"], event["target"]) == (
        "download.archive",
        "P1",
        "P1-E1.tar",
    )
    assert event["detail"]["selection"] == {
        "sessions": ["E1"],
        "scans": ["1", "2"],
        "resources": ["DICOM"],
    }
    assert event["detail"]["files"] == 4
    assert (event["detail"]["format"], event["detail"]["layout"]) == ("tar", "tree")
