"""Bad uploads: each gets a clear 4xx, nothing is staged or archived, and no temporary
file is left behind."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from tests.conftest import PASSWORD
from tests.helpers import API, spooled, write_study
from tests.ingest.test_upload import nothing_left, post, tar_dir, zip_dir


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 3600
    return make_project("private", label="PILOT")


@pytest.fixture
def dicom() -> bytes:
    return to_bytes(mr_instance(Study(), Series(1, "T1w"), 1, rows=32, columns=32))


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A folder holding a valid study, to which each test adds its poison."""
    root = tmp_path / "good"
    write_study(root, Study(), [Series(1, "T1w")], per_series=2)
    return root


def refused(r: Any, status: int, words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert words in error["message"], error
    return error


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.dcm", "'..' component"),
        ("/etc/evil.dcm", "absolute path"),
        ("a/../../evil.dcm", "'..' component"),
        ("C:\\evil.dcm", "absolute path"),
    ],
)
def test_zip_slip_and_absolute_names(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    dicom: bytes,
    name: str,
    why: str,
) -> None:
    body = zip_bytes({"fine/1.dcm": dicom, name: dicom})
    error = refused(post(client, project, body, actors["member"]), 422, why)
    assert error["details"] == [{"name": name, "reason": f"a{'n' if why[0] == 'a' else ''} {why}"}]
    nothing_left(ctx)


@pytest.mark.parametrize("kind", ["symbolic", "hard"])
def test_links_in_tar(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    good: Path,
    tmp_path: Path,
    kind: str,
) -> None:
    target = next(good.glob("*.dcm"))
    if kind == "symbolic":
        (good / "link.dcm").symlink_to("/etc/passwd")
    else:
        os.link(target, good / "link.dcm")
    body = tar_dir(good, tmp_path / "links.tar", "cf")
    refused(post(client, project, body, actors["member"]), 422, f"a {kind} link")
    nothing_left(ctx)


def test_absolute_path_in_tar(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    good: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "abs.tar"
    subprocess.run(["tar", "cPf", str(out), str(next(good.glob("*.dcm")))], check=True)
    refused(post(client, project, out.read_bytes(), actors["member"]), 422, "absolute path")
    nothing_left(ctx)


def test_expanded_size_limit(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    good: Path,
    tmp_path: Path,
) -> None:
    ctx.settings.import_max_expanded_bytes = 1_000_000
    with open(good / "zeros.dcm", "wb") as fh:
        fh.truncate(5_000_000)
    body = zip_dir(good, tmp_path / "big.zip")
    refused(post(client, project, body, actors["member"]), 413, "IMPORT_MAX_EXPANDED_BYTES")
    nothing_left(ctx)


def test_zip_bomb_ratio(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    good: Path,
    tmp_path: Path,
) -> None:
    with open(good / "zeros.dcm", "wb") as fh:
        fh.truncate(80 * 1024 * 1024)  # 80 MiB of zeros deflate to about 80 kB
    body = zip_dir(good, tmp_path / "bomb.zip")
    assert len(body) < 1_000_000
    refused(post(client, project, body, actors["member"]), 413, "zip bomb")
    nothing_left(ctx)


def test_member_count_limit(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str, dicom: bytes
) -> None:
    ctx.settings.import_max_members = 3
    body = zip_bytes({f"{i}.dcm": dicom for i in range(5)})
    refused(post(client, project, body, actors["member"]), 413, "IMPORT_MAX_MEMBERS")
    nothing_left(ctx)


@pytest.mark.parametrize(
    ("name", "flags"), [("cut.zip", ""), ("cut.tgz", "czf"), ("cut.tar", "cf")]
)
def test_truncated_archives(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    good: Path,
    tmp_path: Path,
    name: str,
    flags: str,
) -> None:
    out = tmp_path / name
    body = zip_dir(good, out) if not flags else tar_dir(good, out, flags)
    cut = body[: len(body) // 2]
    refused(post(client, project, cut, actors["member"]), 422, "truncated or damaged")
    nothing_left(ctx)


def test_a_tar_cut_at_a_member_boundary_is_refused(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str, dicom: bytes
) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for number in (1, 2, 3):
            info = tarfile.TarInfo(f"{number}.dcm")
            info.size = len(dicom)
            archive.addfile(info, io.BytesIO(dicom))
    body = out.getvalue()
    # After the first member's header and data (rounded to a block), before the second.
    cut = body[: 512 + (len(dicom) + 511) // 512 * 512]
    refused(post(client, project, cut, actors["member"]), 422, "two zero blocks")
    nothing_left(ctx)


def test_folders_in_a_tar_are_not_listed_as_skipped(
    client: TestClient, actors: dict[str, Any], project: str, good: Path, tmp_path: Path
) -> None:
    (good / "deeper" / "still").mkdir(parents=True)
    r = post(client, project, tar_dir(good, tmp_path / "up.tar", "cf"), actors["member"])
    assert r.status_code == 200, r.text
    assert r.json()["files"] == 2 and r.json()["skipped"] == []


def test_encrypted_zip(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    good: Path,
    tmp_path: Path,
) -> None:
    body = zip_dir(good, tmp_path / "secret.zip", "-P", "secret")
    refused(post(client, project, body, actors["member"]), 422, "is encrypted")
    nothing_left(ctx)


def test_empty_archives_and_bodies(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str, tmp_path: Path
) -> None:
    empty_tar = tmp_path / "empty.tar"
    subprocess.run(["tar", "cf", str(empty_tar), "-T", "/dev/null"], check=True)
    for body in (zip_bytes({}), empty_tar.read_bytes(), zip_bytes({"folder/": b""})):
        refused(post(client, project, body, actors["member"]), 422, "holds no DICOM")
    refused(post(client, project, b"", actors["member"]), 422, "empty")
    nothing_left(ctx)


def test_what_is_no_archive(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str, dicom: bytes
) -> None:
    refused(post(client, project, b"hello, world\n" * 100, actors["member"]), 415, "not a zip")
    # The name and content type do not matter: the bytes do.
    r = client.post(
        f"{API}/projects/{project}/import?name=scan.zip",
        content=dicom,
        headers={"content-type": "application/zip"},
        auth=actors["member"],
    )
    refused(r, 415, "single DICOM file")
    nothing_left(ctx)


def test_damaged_dicom_inside(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str, dicom: bytes
) -> None:
    body = zip_bytes({"ok.dcm": dicom, "cut.dcm": dicom[:200]})
    error = refused(post(client, project, body, actors["member"]), 422, "not DICOM")
    assert [d["name"] for d in error["details"]] == ["cut.dcm"]
    nothing_left(ctx)


def test_who_may_upload(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    dicom: bytes,
) -> None:
    body = zip_bytes({"1.dcm": dicom})
    assert post(client, project, body, actors["anonymous"]).status_code == 401
    assert post(client, project, body, actors["outsider"]).status_code == 404
    assert post(client, project, body, actors["collaborator"]).status_code == 403
    assert post(client, "NOPE", body, actors["member"]).status_code == 404
    assert post(client, "NOPE", body, actors["anonymous"]).status_code == 401
    nothing_left(ctx)


@pytest.mark.parametrize(
    "params",
    [
        {"subject": "bad label!"},
        {"session": "../x"},
        {"destination": "elsewhere"},
        {"overwrite": "sometimes"},
        {"overwrite": "delete", "destination": "prearchive"},
    ],
)
def test_bad_parameters(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    project: str,
    dicom: bytes,
    params: dict[str, str],
) -> None:
    r = post(client, project, zip_bytes({"1.dcm": dicom}), actors["owner"], **params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] in params
    nothing_left(ctx)


def test_upload_size_limit(
    ctx: Context, client: TestClient, actors: dict[str, Any], project: str, dicom: bytes
) -> None:
    ctx.settings.max_upload_bytes = 1000
    r = post(client, project, zip_bytes({"1.dcm": dicom}), actors["member"])
    refused(r, 413, "larger than the limit")
    nothing_left(ctx)


@pytest.mark.in_process("reads the server's log")
def test_upload_cut_off_mid_body(
    ctx: Context,
    live_server: Any,
    users: Any,
    project: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The sender goes away half-way: nothing is kept, and the log says so in one line
    rather than as an internal error."""
    import base64
    import socket
    import time

    caplog.set_level(logging.INFO, logger="scandepot.http")
    host, port = live_server.url.removeprefix("http://").split(":")
    credentials = base64.b64encode(b"member:" + PASSWORD.encode()).decode()
    head = (
        f"POST /api/v1/projects/{project}/import HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Basic {credentials}\r\nContent-Length: 10000000\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode() + b"PK\x03\x04" + b"\0" * 1_000_000)
        spooled(ctx.store.tmp, 0)  # the server has opened the file the body goes to
    deadline = time.monotonic() + 10
    while "went away" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.05)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    nothing_left(ctx)
