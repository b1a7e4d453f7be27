"""`scandepot download` as a real process against a real server: selection, layouts,
an interrupted run resumed, checksum mismatches and refusals."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.context import Context
from scandepot.export.layouts import Layout
from tests.conftest import LiveServer
from tests.export.conftest import BASE, World, world  # noqa: F401 - the fixture
from tests.export.test_round_trip import expected_names
from tests.helpers import ADMIN

pytestmark = pytest.mark.interop

SCANDEPOT = [sys.executable, "-m", "scandepot", "download"]
BIG = 8 * 1024 * 1024


@pytest.fixture
def token(ctx: Context, users: dict[str, User]) -> str:
    return tokens.create(ctx, actor_for(users["admin"]), TokenCreate(name="cli")).token


def env_with(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    if token is not None:
        env["SCANDEPOT_TOKEN"] = token
    return env


def run(
    server: LiveServer, dest: Path, token: str | None, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCANDEPOT, "--url", server.url, "--project", "P1", *args, str(dest)],
        env=env_with(token),
        capture_output=True,
        text=True,
        timeout=120,
    )


def tree_of(dest: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(dest)): p.read_bytes()
        for p in dest.rglob("*")
        if p.is_file() and ".scandepot" not in p.parts and not p.name.startswith("manifest.")
    }


def test_downloads_and_verifies(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    result = run(live_server, dest, token, "--jobs", "3")
    assert result.returncode == 0, result.stderr
    assert "OK: " in result.stdout
    assert tree_of(dest) == expected_names(world.files_below_sessions(), Layout.TREE)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["file_count"] == len(world.files_below_sessions())
    subprocess.run(["sha256sum", "--quiet", "-c", "manifest.sha256"], cwd=dest, check=True)
    # A second run finds everything in place and only verifies.
    again = run(live_server, dest, token)
    assert again.returncode == 0, again.stderr
    assert f"{manifest['file_count']} already here" in again.stderr


def test_selection_and_layout(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    args = ["--session", "E1,E3", "--resources", "DICOM", "--scan-types", "^EPI"]
    result = run(live_server, dest, token, *args, "--layout", "flat")
    assert result.returncode == 0, result.stderr
    want = world.select(session={"E1", "E3"}, resource="DICOM", scan={"2", "10"})
    assert tree_of(dest) == expected_names(want, Layout.FLAT)


def test_single_files(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,
    tmp_path: Path,
) -> None:
    """--file names files relative to the one --session, or with their session."""
    dest = tmp_path / "dest"
    args = [
        *("--session", "E1"),
        *("--file", "scans/10/resources/NIFTI/files/sub/10.nii.gz"),
        *("--file", "sessions/E3/resources/QA/files/report.txt"),
    ]
    result = run(live_server, dest, token, *args)
    assert result.returncode == 0, result.stderr
    want = {
        k: world.files[k]
        for k in [
            ("S1", "E1", "10", "NIFTI", "sub/10.nii.gz"),
            ("S2", "E3", None, "QA", "report.txt"),
        ]
    }
    assert tree_of(dest) == expected_names(want, Layout.TREE)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["file_count"] == 2
    result = run(live_server, tmp_path / "e", token, "--file", "sessions/E1/resources/QA/files/x")
    assert result.returncode == 2
    assert "File(s) 'sessions/E1/resources/QA/files/x' not found" in result.stderr


@pytest.fixture
def big_file(client: TestClient, world: World) -> bytes:  # noqa: F811
    body = os.urandom(BIG)
    url = f"{BASE}/sessions/E1/scans/1/resources/RAW/files/big.dat"
    assert client.put(url, content=body, auth=ADMIN).status_code == 201
    return body


def test_interrupted_then_resumed(
    client: TestClient,
    big_file: bytes,
    live_server: LiveServer,
    token: str,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    args = [*SCANDEPOT, "--url", live_server.url, "--project", "P1", "--resources", "RAW"]
    slow = subprocess.Popen(
        [*args, "--limit-rate", str(2 * 1024 * 1024), str(dest)],
        env=env_with(token),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial = dest / ".scandepot" / "partial"
    deadline = time.monotonic() + 60
    while True:
        sizes = [p.stat().st_size for p in partial.glob("*")] if partial.exists() else []
        if sizes and sizes[0] >= 1024 * 1024:
            break
        assert slow.poll() is None, "the download ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    slow.send_signal(signal.SIGKILL)
    slow.wait(timeout=10)
    target = dest / "S1/E1/scans/1-T1w_MPRAGE/resources/RAW/files/big.dat"
    assert not target.exists()
    kept = next(partial.glob("*")).stat().st_size
    assert 0 < kept < BIG

    result = run(live_server, dest, token, "--resources", "RAW")
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == big_file
    events = client.get("/api/v1/audit?action=file.downloaded", auth=ADMIN).json()["items"]
    resumed = [e["detail"].get("range") for e in events]
    assert any(r and r.startswith("bytes=") and int(r[6:-1]) >= kept for r in resumed), resumed
    assert list(partial.glob("*")) == []


def test_mismatch_exits_non_zero_then_recovers(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "dest"
    assert run(live_server, dest, token, "--session", "E2").returncode == 0
    victim = dest / "S1/E2/resources/QA/files/report.txt"
    damaged = bytearray(victim.read_bytes())
    damaged[0] ^= 0xFF
    victim.write_bytes(bytes(damaged))
    result = run(live_server, dest, token, "--session", "E2")
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr and "report.txt" in result.stderr
    assert not victim.exists()
    result = run(live_server, dest, token, "--session", "E2")
    assert result.returncode == 0, result.stderr
    assert (
        hashlib.sha256(victim.read_bytes()).hexdigest()
        == hashlib.sha256(b"qa report E2").hexdigest()
    )


def test_refusals_exit_2(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,
    tmp_path: Path,
) -> None:
    result = run(live_server, tmp_path / "a", "sdt_not-a-token")
    assert result.returncode == 2
    assert "401" in result.stderr
    result = run(live_server, tmp_path / "b", None)  # anonymous, private project
    assert result.returncode == 2
    result = run(live_server, tmp_path / "c", token, "--session", "E9")
    assert result.returncode == 2
    assert "Session(s) 'E9' not found" in result.stderr
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    result = run(live_server, tmp_path / "d", None, "--token-file", str(token_file))
    assert result.returncode == 0, result.stderr
