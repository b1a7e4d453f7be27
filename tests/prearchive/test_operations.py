"""Working on staged sessions through the API and the command line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from scandepot.archive.check import check
from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study
from scandepot.prearchive import worker
from tests.helpers import API, write_study

pytestmark = pytest.mark.interop

Send = Callable[..., subprocess.CompletedProcess[str]]
PRE = f"{API}/prearchive"


@pytest.fixture
def pilot(ctx: Context, make_project: Callable[..., str]) -> str:
    ctx.settings.prearchive_quiet_s = 0
    return make_project("private", label="PILOT")  # review: sessions wait in the prearchive


def receive(storescu: Send, ctx: Context, folder: Path, study: Study) -> None:
    files = write_study(folder, study, [Series(1, "T1w"), Series(2, "T2w")], per_series=2)
    assert storescu(*files).returncode == 0
    worker.run_once(ctx)


def test_unassigned_sessions_are_for_site_admins(
    ctx: Context,
    pilot: str,
    storescu: Send,
    client: TestClient,
    actors: dict[str, Any],
    tmp_path: Path,
) -> None:
    receive(storescu, ctx, tmp_path / "in", Study())
    assert client.get(PRE, auth=actors["owner"]).json()["total"] == 0
    listing = client.get(PRE, params={"project": "unassigned"}, auth=actors["admin"]).json()
    [item] = listing["items"]
    assert item["project"] is None and item["status"] == "READY"
    assert client.get(f"{PRE}/{item['id']}", auth=actors["owner"]).status_code == 404
    assert client.get(f"{PRE}/{item['id']}").status_code == 401
    # The admin routes it; the session is rebuilt against the project.
    r = client.patch(
        f"{PRE}/{item['id']}",
        json={"project": "PILOT", "subject": "sub-01", "session": "ses-01"},
        auth=actors["admin"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["project"] == "PILOT" and r.json()["status"] == "READY"
    assert [s["id"] for s in r.json()["scans"]] == ["1", "2"]
    # Now the project's people see it; members may not archive, owners may.
    assert client.get(f"{PRE}/{item['id']}", auth=actors["member"]).status_code == 200
    assert client.post(f"{PRE}/{item['id']}/archive", auth=actors["member"]).status_code == 403
    done = client.post(f"{PRE}/{item['id']}/archive", auth=actors["owner"])
    assert done.status_code == 200, done.text
    assert (done.json()["session"], done.json()["files"]) == ("ses-01", 4)
    assert client.get(done.json()["url"], auth=actors["collaborator"]).status_code == 200
    assert client.get(f"{PRE}/{item['id']}", auth=actors["owner"]).status_code == 404
    assert check(ctx).ok


def test_a_session_routed_to_an_unreachable_project_is_shown_to_its_owners(
    ctx: Context,
    make_project: Callable[..., str],
    storescu: Send,
    client: TestClient,
    actors: dict[str, Any],
    tmp_path: Path,
) -> None:
    # The project the header names does not exist when the study arrives.
    ctx.settings.prearchive_quiet_s = 0
    study = Study(StudyDescription="xnat://pilot/sub 01/ses-01")
    files = write_study(tmp_path / "in", study, [Series(1, "T1w")], per_series=2)
    assert storescu(*files).returncode == 0
    make_project("private", label="PILOT")  # review: sessions wait in the prearchive
    make_project("private", label="OTHER")
    listing = client.get(PRE, auth=actors["owner"]).json()
    [item] = listing["items"]
    assert item["project"] is None
    assert item["routing"]["project"] == "pilot"
    assert "Project 'pilot' does not exist." in item["problems"]
    assert client.get(f"{PRE}/{item['id']}", auth=actors["owner"]).status_code == 200
    # Members see their project's staged sessions, not the ones waiting to be put there.
    assert client.get(PRE, auth=actors["member"]).json()["total"] == 0
    assert client.get(f"{PRE}/{item['id']}", auth=actors["member"]).status_code == 404
    # A rebuild finds the project ignoring case, as labels are matched.
    r = client.post(f"{PRE}/{item['id']}/rebuild", auth=actors["owner"])
    assert r.status_code == 200, r.text
    assert r.json()["project"] == "PILOT" and r.json()["status"] == "READY"
    assert r.json()["subject"] == "sub_01" and r.json()["problems"] == []


def test_relabel_resolves_a_conflict(
    ctx: Context,
    pilot: str,
    storescu: Send,
    client: TestClient,
    actors: dict[str, Any],
    tmp_path: Path,
) -> None:
    owner = actors["owner"]
    receive(storescu, ctx, tmp_path / "a", Study(StudyDescription="xnat://PILOT/s1/e1"))
    [first] = client.get(PRE, auth=owner).json()["items"]
    assert client.post(f"{PRE}/{first['id']}/archive", auth=owner).status_code == 200
    receive(storescu, ctx, tmp_path / "b", Study(StudyDescription="xnat://PILOT/s1/e1"))
    [second] = client.get(PRE, auth=owner).json()["items"]
    r = client.post(f"{PRE}/{second['id']}/archive", auth=owner)
    assert r.status_code == 409 and "Invalid modification of session UID" in r.text
    assert client.get(f"{PRE}/{second['id']}", auth=owner).json()["status"] == "CONFLICT"
    fixed = client.patch(f"{PRE}/{second['id']}", json={"session": "e2"}, auth=actors["member"])
    assert fixed.status_code == 200 and fixed.json()["status"] == "READY"
    assert client.post(f"{PRE}/{second['id']}/archive", auth=owner).json()["session"] == "e2"


def test_delete_and_bad_input(
    ctx: Context,
    pilot: str,
    storescu: Send,
    client: TestClient,
    actors: dict[str, Any],
    tmp_path: Path,
) -> None:
    owner = actors["owner"]
    receive(storescu, ctx, tmp_path / "a", Study(StudyDescription="xnat://PILOT/s1/e1"))
    [item] = client.get(PRE, auth=owner).json()["items"]
    r = client.patch(f"{PRE}/{item['id']}", json={"session": "bad label!"}, auth=owner)
    assert r.status_code == 422 and r.json()["error"]["field"] == "session"
    r = client.patch(f"{PRE}/{item['id']}", json={"project": "NOPE"}, auth=owner)
    assert r.status_code == 404
    assert client.get(f"{PRE}/999999", auth=owner).status_code == 404
    assert client.get(f"{PRE}?status=NOPE", auth=owner).status_code == 422
    assert client.delete(f"{PRE}/{item['id']}", auth=actors["member"]).status_code == 403
    assert client.delete(f"{PRE}/{item['id']}", auth=owner).status_code == 204
    assert not (ctx.store.data_dir / "prearchive" / str(item["id"])).exists()
    assert client.get(PRE, auth=owner).json()["total"] == 0


def test_deleting_a_project_with_staged_sessions(
    ctx: Context,
    pilot: str,
    storescu: Send,
    client: TestClient,
    actors: dict[str, Any],
    tmp_path: Path,
) -> None:
    receive(storescu, ctx, tmp_path / "a", Study(StudyDescription="xnat://PILOT/s1/e1"))
    assert client.delete(f"{API}/projects/PILOT", auth=actors["owner"]).status_code == 409
    r = client.delete(f"{API}/projects/PILOT?recursive=true", auth=actors["owner"])
    assert r.status_code == 204
    assert client.get(PRE, auth=actors["admin"]).json()["total"] == 0


def test_the_prearchive_command(ctx: Context, pilot: str, storescu: Send, tmp_path: Path) -> None:
    receive(storescu, ctx, tmp_path / "a", Study())
    runner = CliRunner()
    env = {
        "SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir),
        "SCANDEPOT_DATABASE_URL": str(ctx.settings.database_url),
    }
    listed = runner.invoke(cli, ["prearchive", "list"], env=env)
    assert listed.exit_code == 0 and "(unassigned)" in listed.stdout
    staged_id = listed.stdout.split("\t")[0]
    shown = runner.invoke(cli, ["prearchive", "show", staged_id], env=env)
    assert "scan 1: T1w [MR] 2 files" in shown.stdout
    moved = runner.invoke(
        cli,
        [
            "prearchive",
            "relabel",
            staged_id,
            "--project",
            "PILOT",
            "--subject",
            "s9",
            "--session",
            "e9",
        ],
        env=env,
    )
    assert moved.exit_code == 0, moved.stderr
    done = runner.invoke(cli, ["prearchive", "archive", staged_id], env=env)
    assert done.exit_code == 0 and "archived 4 files into PILOT/s9/e9" in done.stdout
    again = runner.invoke(cli, ["prearchive", "archive", staged_id], env=env)
    assert again.exit_code == 1 and "not found" in again.stderr
