"""`scandepot upload` and `scandepot login` as real processes against a real server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from tests.conftest import PASSWORD, LiveServer
from tests.helpers import after_archive, write_study

pytestmark = pytest.mark.interop

UPLOAD = [sys.executable, "-m", "scandepot", "upload"]


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 3600
    return make_project("private", label="PILOT")


def token_for(ctx: Context, user: User) -> str:
    return tokens.create(ctx, actor_for(user), TokenCreate(name="cli")).token


def env_with(token: str | None, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["XDG_CONFIG_HOME"] = str(home)
    if token is not None:
        env["SCANDEPOT_TOKEN"] = token
    return env


def run(
    server: LiveServer, token: str | None, home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*UPLOAD, "--url", server.url, "--project", "PILOT", *args],
        env=env_with(token, home),
        capture_output=True,
        text=True,
        timeout=300,
    )


def held_instances(ctx: Context) -> list[tuple[str, str | None]]:
    with ctx.db.read() as db:
        rows = db.execute(select(Instance.SOPInstanceUID, Instance.staged_id)).all()
    return [(uid, str(p)) for uid, p in rows]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Two sessions: one in nested folders beside a text file, one inside a zip."""
    root = tmp_path / "source"
    write_study(root / "a" / "b", Study(PatientID="S1"), [Series(1, "localizer")], per_series=2)
    write_study(root / "a" / "c", Study(PatientID="S1X"), [Series(2, "T1w")], per_series=3)
    (root / "README.txt").write_text("not DICOM\n")
    zipped = tmp_path / "zipped"
    write_study(zipped, Study(PatientID="S2"), [Series(5, "DWI"), Series(6, "T2w")], per_series=2)
    subprocess.run(["zip", "-qr", str(root / "s2.zip"), "."], cwd=zipped, check=True)
    return root


def test_lists_sessions_and_scans_then_sends_and_verifies(
    ctx: Context,
    users: dict[str, User],
    project: str,
    live_server: LiveServer,
    source: Path,
    tmp_path: Path,
) -> None:
    token = token_for(ctx, users["member"])
    listed = run(live_server, token, tmp_path, str(source), "--dry-run")
    assert listed.returncode == 0, listed.stderr
    assert "Found 9 DICOM files in 3 session(s); 1 other file(s) left out." in listed.stdout
    assert "localizer" in listed.stdout and "DWI" in listed.stdout
    assert held_instances(ctx) == []

    done = run(live_server, token, tmp_path, str(source), "--exclude", "^local", "--scans", "2-5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Verified: all 5 files are on the server" in done.stdout
    assert len(held_instances(ctx)) == 5
    with ctx.db.read() as db:
        staged = db.scalars(select(StagedSession)).all()
    assert sorted((s.session, s.hold) for s in staged) == [("S1X", True), ("S2", True)]
    # Run again: nothing is sent twice.
    again = run(live_server, token, tmp_path, str(source), "--exclude", "^local", "--scans", "2-5")
    assert again.returncode == 0, again.stderr
    assert "The server holds 5 of them already; sending 0" in again.stderr
    assert len(held_instances(ctx)) == 5


def test_to_the_archive_with_labels(
    ctx: Context,
    users: dict[str, User],
    project: str,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "one"
    write_study(folder, Study(), [Series(1, "T1w"), Series(2, "T2w")], per_series=3)
    token = token_for(ctx, users["owner"])
    args = ["--subject", "sub-01", "--session", "ses-01", "--to", "archive"]
    done = run(live_server, token, tmp_path, str(folder), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "archive:SD_E" in done.stdout
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(StagedSession.id))) == 0
        assert db.scalar(select(func.count(Instance.id)).where(Instance.file_id.is_not(None))) == 6
    # Members of a project that reviews uploads may not send straight to the archive.
    other = tmp_path / "other"
    write_study(other, Study(), [Series(1, "T1w")], per_series=1)
    refused = run(live_server, token_for(ctx, users["member"]), tmp_path, str(other), *args)
    assert refused.returncode == 2
    assert "only its owners may upload straight into the archive" in refused.stderr


def test_a_refused_archive_says_so_and_what_to_do(
    ctx: Context, users: dict[str, User], project: str, live_server: LiveServer, tmp_path: Path
) -> None:
    """A member's --to archive into a project that reviews uploads: several streams go in,
    the last (which archives) is refused; the refusal is the message, not a rerun."""
    folder = tmp_path / "zipped"
    write_study(folder, Study(), [Series(1, "T1w")], per_series=11, size=512)
    subprocess.run(["zip", "-qr", str(tmp_path / "study.zip"), "."], cwd=folder, check=True)
    token = token_for(ctx, users["member"])
    args = ["--to", "archive", "--batch-mb", "1", "--subject", "s1", "--session", "e1"]
    out = run(live_server, token, tmp_path, str(tmp_path / "study.zip"), *args)
    text = out.stdout + out.stderr
    assert out.returncode == 2, text
    assert "only its owners may upload straight into the archive" in out.stderr
    assert "--to prearchive" in out.stderr and "not where you asked" in out.stdout
    assert "scandepot-upload-" not in text and "run again" not in text


def test_files_held_under_other_labels_are_not_verified(
    ctx: Context, users: dict[str, User], project: str, live_server: LiveServer, tmp_path: Path
) -> None:
    folder = tmp_path / "one"
    write_study(folder, Study(), [Series(1, "T1w")], per_series=2)
    token = token_for(ctx, users["owner"])
    first = ["--subject", "sub-01", "--session", "ses-01", "--to", "archive"]
    assert run(live_server, token, tmp_path, str(folder), *first).returncode == 0
    again = run(live_server, token, tmp_path, str(folder), *first)
    assert again.returncode == 0 and "Verified: all 2 files" in again.stdout
    other = ["--subject", "sub-01", "--session", "ses-02", "--to", "archive"]
    moved = run(live_server, token, tmp_path, str(folder), *other)
    # The server refuses to copy or move what it holds (exit 2: running again cannot
    # help), naming where the files are.
    assert moved.returncode == 2, moved.stdout + moved.stderr
    assert "Verified" not in moved.stdout and "not where you asked" in moved.stdout
    assert "archived session SD_E00001 (sub-01/ses-01)" in moved.stderr


def test_killed_half_way_then_run_again(
    ctx: Context,
    users: dict[str, User],
    project: str,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "many"
    write_study(folder, Study(), [Series(n, f"S{n}") for n in (1, 2, 3)], per_series=100, size=96)
    token = token_for(ctx, users["owner"])
    args = [*UPLOAD, "--url", live_server.url, "--project", "PILOT", str(folder)]
    args += ["--to", "archive", "--streams", "1", "--batch-mb", "1"]
    first = subprocess.Popen(
        args, env=env_with(token, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not held_instances(ctx):
        assert first.poll() is None, "the upload finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait()
    part = len(held_instances(ctx))
    assert 0 < part < 300
    again = run(live_server, token, tmp_path, str(folder), "--to", "archive", "--batch-mb", "1")
    assert again.returncode == 0, again.stdout + again.stderr
    # A stream whose body had arrived whole may still have been filed after the kill.
    match = re.search(r"The server holds (\d+) of them already", again.stderr)
    assert match is not None and part <= int(match[1]) < 300
    uids = [uid for uid, _ in held_instances(ctx)]
    assert len(uids) == 300 and len(set(uids)) == 300  # everything, exactly once
    with ctx.db.read() as db:
        assert db.scalar(select(func.count(StagedSession.id))) == 0
        assert db.scalar(select(func.count(Instance.id)).where(Instance.file_id.is_(None))) == 0
    after_archive(live_server.app)  # pictures and metadata are made after the archive
    assert list(ctx.store.tmp.iterdir()) == []


def test_refusals(
    ctx: Context,
    users: dict[str, User],
    project: str,
    live_server: LiveServer,
    source: Path,
    tmp_path: Path,
) -> None:
    token = token_for(ctx, users["member"])
    assert run(live_server, "sdt_wrong", tmp_path, str(source)).returncode == 2
    outsider = run(live_server, token_for(ctx, users["outsider"]), tmp_path, str(source))
    assert outsider.returncode == 2 and "not found" in outsider.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.txt").write_text("x")
    nothing = run(live_server, token, tmp_path, str(empty))
    assert nothing.returncode == 2 and "nothing to send" in nothing.stderr
    bad = run(live_server, token, tmp_path, str(source), "--scans", "3-1")
    assert bad.returncode == 2 and "backwards" in bad.stderr
    two = run(live_server, token, tmp_path, str(source), "--session", "ses-01")
    assert two.returncode == 2 and "names one session" in two.stderr
    assert held_instances(ctx) == []


def test_login_saves_a_token_the_upload_then_uses(
    ctx: Context,
    users: dict[str, User],
    project: str,
    live_server: LiveServer,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("SCANDEPOT_TOKEN", raising=False)
    result = CliRunner().invoke(
        cli, ["login", "--url", live_server.url, "--user", "member"], input=f"{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    saved = home / "scandepot" / "credentials.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert json.loads(saved.read_text())["url"] == live_server.url
    wrong = CliRunner().invoke(
        cli, ["login", "--url", live_server.url, "--user", "member"], input="nope\n"
    )
    assert wrong.exit_code == 2
    # No --url, no token in the environment: both come from the saved credentials.
    done = subprocess.run(
        [*UPLOAD, "--project", "PILOT", str(source)],
        env=env_with(None, home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(held_instances(ctx)) == 9
