"""`scandepot deid` on files and folders offline, and `scandepot deid-script` and
`scandepot pseudonym` against a real server, as real processes: what they print, what
they write, and their exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread

from scandepot.access import tokens
from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.cli.entry import CLIENT_COMMANDS
from scandepot.context import Context
from scandepot.deid import manage, pseudonyms
from tests import command
from tests.conftest import LiveServer
from tests.deid.project_world import (
    CTP_BROKEN,
    CTP_NAME_ONLY,
    PROFILE,
    archive_mr_small,
    mr_small,
)

SCANDEPOT = [sys.executable, "-m", "scandepot"]


def env(token: str | None = None) -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    found["XDG_CONFIG_HOME"] = "/nonexistent-scandepot-config"  # no saved credentials
    if token is not None:
        found["SCANDEPOT_TOKEN"] = token
    return found


def run(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    if args[0] in CLIENT_COMMANDS:  # the light start of a client command is theirs to prove
        return subprocess.run(
            [*SCANDEPOT, *args], env=env(token), capture_output=True, text=True, timeout=120
        )
    return command.run(args, env=env(token), timeout=120)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    study = tmp_path / "in" / "study"
    study.mkdir(parents=True)
    shutil.copy(mr_small(), study / "1.dcm")
    (study / "notes.txt").write_text("not DICOM")
    return study


def test_offline_a_folder_with_a_file_that_fails(folder: Path, tmp_path: Path) -> None:
    script = tmp_path / "basic.json"
    script.write_text(PROFILE)
    key = tmp_path / "project.key"
    key.write_text("a key of this study\n")
    out = tmp_path / "out"
    done = run("deid", "--script", str(script), "--key-file", str(key), str(folder), str(out))
    assert done.returncode == 1, done.stderr
    assert f"failed: {folder / 'notes.txt'}: notes.txt: not a DICOM file" in done.stderr
    assert "1 file(s) written, 1 failed." in done.stdout
    written = dcmread(out / "study" / "1.dcm")
    original = dcmread(mr_small())
    assert str(written.PatientName) != str(original.PatientName)
    assert written.SOPInstanceUID != original.SOPInstanceUID
    # The same key: the same pseudonyms in another run.
    again = tmp_path / "again"
    run("deid", "--script", str(script), "--key-file", str(key), str(folder), str(again))
    assert dcmread(again / "study" / "1.dcm").SOPInstanceUID == written.SOPInstanceUID
    # No key: one for the run, and other pseudonyms.
    other = tmp_path / "other"
    no_key = run("deid", "--script", str(script), "--json", str(folder / "1.dcm"), str(other))
    assert no_key.returncode == 0, no_key.stderr
    summary = json.loads(no_key.stdout)
    assert summary == {"ok": True, "written": [str(other / "1.dcm")], "failed": []}
    assert dcmread(other / "1.dcm").SOPInstanceUID != written.SOPInstanceUID


def test_offline_refusals_write_nothing(folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text(CTP_BROKEN)
    out = tmp_path / "out"
    done = run("deid", "--script", str(broken), str(folder), str(out))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {broken}: script, line 3:")
    lookup = tmp_path / "table.csv"
    lookup.write_text("ptid,4MR1,S1\nptid,4MR1,S2\n")
    script = tmp_path / "name.xml"
    script.write_text(CTP_NAME_ONLY)
    done = run("deid", "--script", str(script), "--lookup", str(lookup), str(folder), str(out))
    assert done.returncode == 2
    assert f"{lookup}, line 2: ptid original '4MR1' is also on line 1" in done.stderr
    # A script that leaves the Patient ID: the file is not written.
    done = run("deid", "--script", str(script), str(folder / "1.dcm"), str(out))
    assert done.returncode == 1 and "1.dcm is not de-identified" in done.stderr
    assert not out.exists() or list(out.rglob("*")) == []


@pytest.fixture
def token(ctx: Context, users: dict[str, User]) -> str:
    return tokens.create(ctx, actor_for(users["owner"]), TokenCreate(name="cli")).token


@pytest.mark.interop
@pytest.mark.parametrize("backend", ["sqlite"])
def test_remote_scripts(
    ctx: Context,
    live_server: LiveServer,
    make_project: Callable[..., str],
    token: str,
    tmp_path: Path,
) -> None:
    project = make_project()
    archived = archive_mr_small(ctx, project)
    url = ("--url", live_server.url)
    broken = tmp_path / "broken.xml"
    broken.write_text(CTP_BROKEN)
    done = run("deid-script", "set", project, "archive", str(broken), *url, token=token)
    assert done.returncode == 2 and "script, line 3:" in done.stderr
    script = tmp_path / "basic.json"
    script.write_text(PROFILE)
    done = run("deid-script", "set", project, "archive", str(script), *url, token=token)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("saved archive v1\tprofile\ton\tsha256:")
    shown = run("deid-script", "show", project, "archive", *url, token=token)
    assert shown.stdout == PROFILE + "\n" and shown.stderr.startswith("archive v1\tprofile")
    assert run("deid-script", "disable", project, "archive", *url, token=token).returncode == 0
    listed = run("deid-script", "versions", project, "archive", *url, token=token).stdout
    assert [line.split("\t")[:3] for line in listed.splitlines()] == [
        ["archive v2", "profile", "off"],
        ["archive v1", "profile", "on"],
    ]
    newest = manage.newest(ctx, SYSTEM, project, "archive")
    assert newest is not None and not newest.enabled

    tested = run(
        "deid-script", "test", project, "archive", "--session", archived.session, *url, token=token
    )
    assert tested.returncode == 0, tested.stderr
    assert "(0010,0010)\tPatientName\tCompressedSamples^MR1\t" in tested.stdout
    assert "passed: nothing identifying found" in tested.stdout
    name_only = tmp_path / "name.xml"
    name_only.write_text(CTP_NAME_ONLY)
    tested = run(
        "deid-script",
        "test",
        project,
        "archive",
        "--script",
        str(name_only),
        "--file",
        str(mr_small()),
        *url,
        token=token,
    )
    assert tested.returncode == 1
    assert "(0010,0010)\tPatientName\tCompressedSamples^MR1\t\temptied" in tested.stdout
    assert "finding: (0010,0020)" in tested.stdout
    assert tested.stderr.startswith("not_deidentified: MR_small.dcm is not de-identified")


@pytest.mark.interop
@pytest.mark.parametrize("backend", ["sqlite"])
def test_remote_pseudonym_table(
    ctx: Context,
    live_server: LiveServer,
    make_project: Callable[..., str],
    token: str,
    tmp_path: Path,
) -> None:
    project = make_project()
    url = ("--url", live_server.url)
    table = tmp_path / "table.csv"
    table.write_text("kind,original,pseudonym\nptid,4MR1,SUBJ-001\n")
    done = run("pseudonym", "import", project, str(table), *url, token=token)
    assert (done.returncode, done.stdout) == (
        0,
        "merge: 1 added, 0 unchanged, 0 removed; 1 in the table\n",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("ptid,A,P1\nptid,B\nptid,C,P1\n")
    done = run("pseudonym", "import", project, str(bad), "--replace", *url, token=token)
    assert done.returncode == 2
    assert "  line 2: 2 fields; a row is kind,original,pseudonym" in done.stderr
    assert "  line 3: ptid pseudonym 'P1' is also on line 1" in done.stderr
    assert pseudonyms.counts(ctx, SYSTEM, project) == {"ptid": 1}
    exported = run("pseudonym", "export", project, *url, token=token)
    assert exported.stdout == table.read_text()
    written = tmp_path / "copy.csv"
    run("pseudonym", "export", project, "-o", str(written), *url, token=token)
    assert written.read_text() == table.read_text()
    assert run("pseudonym", "clear", project, *url, token=token).returncode == 0
    assert pseudonyms.counts(ctx, SYSTEM, project) == {}
    member = tokens.create(ctx, actor_for_login(ctx, "member"), TokenCreate(name="cli")).token
    refused = run("pseudonym", "export", project, *url, token=member)
    assert refused.returncode == 2 and refused.stderr.startswith("error: 403 ")


def actor_for_login(ctx: Context, login: str) -> Actor:
    from sqlalchemy import select

    with ctx.db.read() as db:
        user = db.scalar(select(User).where(User.login == login))
    assert user is not None
    return actor_for(user)
