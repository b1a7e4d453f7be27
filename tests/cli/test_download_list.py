"""`scandepot download --list` as a real process against a real server: a list saved from
the server fetched into the same files as the download of the same selection; resumed
after a kill; a file that does not match (changed on the server, or a tampered list)
reported and never left in place; refusals per file for whoever may not read the project;
bad lists refused before anything is fetched."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.context import Context
from scandepot.export.layouts import Layout
from tests.cli.test_download import BIG, SCANDEPOT, big_file, env_with, run, token, tree_of
from tests.conftest import LiveServer
from tests.export.conftest import World, world  # noqa: F401 - the fixture
from tests.export.test_round_trip import expected_names
from tests.helpers import ADMIN

# The command is a client of the API: what it fetches and checks does not depend on the
# server's catalog, whose lists tests/export/test_lists.py reads on both kinds.
pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", ["postgresql"])]
__all__ = ["big_file", "token"]  # fixtures


def save_list(server: LiveServer, token: str, path: Path, query: str) -> bytes:
    r = httpx.get(
        f"{server.url}/api/v1/projects/P1/download-list?{query}",
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    path.write_bytes(r.content)
    return r.content


def fetch(
    server: LiveServer, listed: Path, dest: Path, token: str | None, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCANDEPOT, "--url", server.url, "--list", str(listed), *args, str(dest)],
        env=env_with(token),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_list_fetches_what_the_download_fetches(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    listed = tmp_path / "list.xml"
    save_list(live_server, token, listed, "sessions=E1,E3&resources=DICOM,QA&layout=session")
    result = fetch(live_server, listed, tmp_path / "by-list", token, "--jobs", "3")
    assert result.returncode == 0, result.stderr
    assert "OK: " in result.stdout
    by_list = tree_of(tmp_path / "by-list")
    want = world.select(session={"E1", "E3"}, resource={"DICOM", "QA"})
    assert by_list == expected_names(want, Layout.SESSION)
    selection = ["--session", "E1,E3", "--resources", "DICOM,QA", "--layout", "session"]
    direct = run(live_server, tmp_path / "direct", token, *selection)
    assert direct.returncode == 0, direct.stderr
    assert tree_of(tmp_path / "direct") == by_list
    sums = tmp_path / "by-list" / "manifest.sha256"
    subprocess.run(["sha256sum", "--quiet", "-c", sums.name], cwd=sums.parent, check=True)
    again = fetch(live_server, listed, tmp_path / "by-list", token)
    assert again.returncode == 0, again.stderr
    assert f"{len(want)} already here" in again.stderr


def test_interrupted_list_resumes(
    client: TestClient,
    big_file: bytes,  # noqa: F811
    live_server: LiveServer,
    token: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    listed = tmp_path / "list.xml"
    save_list(live_server, token, listed, "resources=RAW")
    dest = tmp_path / "dest"
    slow = subprocess.Popen(
        [*SCANDEPOT, "--url", live_server.url, "--list", str(listed)]
        + ["--limit-rate", str(2 * 1024 * 1024), str(dest)],
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

    result = fetch(live_server, listed, dest, token)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == big_file
    events = client.get("/api/v1/audit?action=file.downloaded", auth=ADMIN).json()["items"]
    resumed = [e["detail"].get("range") for e in events]
    assert any(r and r.startswith("bytes=") and int(r[6:-1]) >= kept for r in resumed), resumed
    assert list(partial.glob("*")) == []


def stored(ctx: Context, name: str, session: str) -> Path:
    (found,) = [p for p in ctx.store.archive.rglob(name) if session in p.parts]
    return found


def test_changed_file_on_the_server_is_reported_not_kept(
    ctx: Context,
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    listed = tmp_path / "list.xml"
    save_list(live_server, token, listed, "sessions=E2&resources=QA,NIFTI")
    victim = stored(ctx, "report.txt", "E2")
    body = victim.read_bytes()
    victim.write_bytes(bytes([body[0] ^ 0xFF]) + body[1:])  # same size, other bytes
    dest = tmp_path / "dest"
    result = fetch(live_server, listed, dest, token)
    assert result.returncode == 1
    assert "checksum mismatch (removed, run again): S1/E2/resources/QA/files/report.txt" in (
        result.stderr
    )
    assert not (dest / "S1/E2/resources/QA/files/report.txt").exists()
    assert list((dest / ".scandepot" / "partial").iterdir()) == []
    nifti = world.select(session="E2", resource="NIFTI")
    assert tree_of(dest) == expected_names(nifti, Layout.TREE)  # the others arrived
    assert not (dest / "manifest.json").exists()
    victim.write_bytes(body)  # put right on the server: the next run completes
    result = fetch(live_server, listed, dest, token)
    assert result.returncode == 0, result.stderr
    assert (dest / "S1/E2/resources/QA/files/report.txt").read_bytes() == body


def test_tampered_list_is_reported(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    listed = tmp_path / "list.xml"
    text = save_list(live_server, token, listed, "sessions=E3&resources=QA").decode()
    real = hashlib.sha256(b"qa report E3").hexdigest()
    assert real in text
    listed.write_text(text.replace(real, "0" * 64))
    dest = tmp_path / "dest"
    result = fetch(live_server, listed, dest, token)
    assert result.returncode == 1
    assert "checksum mismatch (removed, run again): S2/E3/resources/QA/files/report.txt" in (
        result.stderr
    )
    assert "save the list again" in result.stdout
    assert tree_of(dest) == {}
    # A size the list gets wrong is a mismatch too.
    listed.write_text(re.sub(r'name="SIZE">\d+<', 'name="SIZE">5<', text))
    result = fetch(live_server, listed, dest, token)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr
    assert tree_of(dest) == {}


@pytest.fixture
def outsider_token(ctx: Context, users: dict[str, User]) -> str:
    return tokens.create(ctx, actor_for(users["outsider"]), TokenCreate(name="cli")).token


def test_who_may_not_read_fails_per_file(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,  # noqa: F811
    outsider_token: str,
    tmp_path: Path,
) -> None:
    listed = tmp_path / "list.xml"
    save_list(live_server, token, listed, "sessions=E1&resources=QA,NIFTI")
    names = sorted(
        expected_names(world.select(session="E1", resource={"QA", "NIFTI"}), Layout.TREE)
    )
    for who, status in ((None, "401"), (outsider_token, "404")):
        dest = tmp_path / f"as-{status}"
        result = fetch(live_server, listed, dest, who)
        assert result.returncode == 2, result.stderr
        refused = sorted(re.findall(rf"^error: (\S+): {status} ", result.stderr, re.M))
        assert refused == names, result.stderr
        assert tree_of(dest) == {}


def test_bad_lists_are_refused_before_fetching(
    world: World,  # noqa: F811
    live_server: LiveServer,
    token: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    listed = tmp_path / "list.xml"
    text = save_list(live_server, token, listed, "sessions=E2&resources=QA").decode()
    cases = {
        "escape.xml": (
            text.replace("S1/E2/resources/QA/files/report.txt", "../../escaped.txt"),
            "the path '../../escaped.txt' has an empty, '.' or '..' part",
        ),
        "other-server.xml": (
            text.replace(live_server.url, "http://127.0.0.2:9"),
            "1 file(s) are on http://127.0.0.2:9, not on",
        ),
        "not-xml.xml": ("PK\x03\x04 a zip", "not well-formed XML"),
        "missing.xml": (None, "cannot read the list"),
    }
    for name, (body, message) in cases.items():
        path = tmp_path / name
        if body is not None:
            path.write_text(body)
        result = fetch(live_server, path, tmp_path / "dest", token)
        assert result.returncode == 2, (name, result.stderr)
        assert message in result.stderr, (name, result.stderr)
        assert not (tmp_path / "escaped.txt").exists()
        assert tree_of(tmp_path / "dest") == {}
    result = fetch(live_server, listed, tmp_path / "dest", token, "--project", "P1")
    assert result.returncode == 2
    assert "--list names the files itself" in result.stderr
    result = subprocess.run(
        [*SCANDEPOT, "--url", live_server.url, str(tmp_path / "dest")],
        env=env_with(token),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--project and a selection, or --list FILE" in result.stderr
