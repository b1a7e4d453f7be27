"""`scandepot transfer` as a real process against a real server: the check printed, a
copy followed to its verified end, exit statuses for a refused check, a failed
verification and a cancel, and the list."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.transfers import Transfer
from scandepot.context import Context
from tests.conftest import LiveServer
from tests.served_deployment import Through
from tests.transfers.conftest import Archive, run_transfers, two_projects

# The command is a client of the API: what it shows and its exit statuses do not depend on
# the server's catalog, whose transfers tests/transfers runs on both kinds.
pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", ["postgresql"])]

SCANDEPOT = [sys.executable, "-m", "scandepot", "transfer"]


@pytest.fixture
def world(
    ctx: Context,
    client: TestClient,
    actors: dict[str, Any],
    make_project: Callable[..., str],
    tmp_path: Path,
) -> Archive:
    """Two projects with the same people; the destination keeps its default (its
    prearchive), as a new project's."""
    return two_projects(ctx, client, actors, make_project, tmp_path)


@pytest.fixture
def token(ctx: Context, users: dict[str, User]) -> str:
    return tokens.create(ctx, actor_for(users["owner"]), TokenCreate(name="cli")).token


def _env(token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["SCANDEPOT_TOKEN"] = token
    return env


def run(server: LiveServer, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCANDEPOT, *args, "--url", server.url],
        env=_env(token),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _transfers(ctx: Context) -> int:
    with ctx.db.read() as db:
        return db.scalar(select(func.count(Transfer.id))) or 0


def test_a_dry_run_prints_the_check_and_writes_nothing(
    ctx: Context, world: Archive, live_server: LiveServer, token: str, tmp_path: Path
) -> None:
    world.session("S1", "E1")
    world.session("S2", "E2", (1, 3))
    mapping = tmp_path / "map.csv"
    mapping.write_text("subject,new_subject,session,new_session\nS1,SUB-A,E1,SUB-A_E1\n")
    done = run(
        live_server,
        token,
        "copy",
        "--from",
        world.source,
        "--to",
        world.dest,
        "--sessions",
        "E1,E2",
        "--map",
        str(mapping),
        "--scans",
        "1",
        "--dry-run",
    )
    assert done.returncode == 0, done.stderr
    assert f"copy from {world.source} to {world.dest}: 2 session(s), 6 file(s)" in done.stdout
    assert "S1/E1 -> SUB-A/SUB-A_E1: create (new subject); scans 1; 3 file(s)" in done.stdout
    assert "S2/E2 -> S2/E2: create (new subject); scans 1; 3 file(s)" in done.stdout
    assert "check: OK" in done.stdout
    assert _transfers(ctx) == 0


def test_a_refused_check_exits_3_listing_every_problem(
    ctx: Context, world: Archive, live_server: LiveServer, token: str
) -> None:
    world.session("S1", "E1")
    world.session("S1", "E1", project=world.dest)
    args = ["move", "--from", world.source, "--to", world.dest, "--sessions", "E1,NOPE"]
    done = run(live_server, token, *args)
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert f"problem [not_found] Session 'NOPE' not found in project '{world.source}'." in (
        done.stdout
    )
    assert "problem [label_clash] S1/E1: Session 'E1' exists in" in done.stdout
    assert "check: 2 problem(s)" in done.stdout
    assert "The transfer was not started: 2 problem(s) found." in done.stderr
    assert _transfers(ctx) == 0
    done = run(
        live_server, token, "copy", "--from", "NOWHERE", "--to", world.dest, "--sessions", "E1"
    )
    assert done.returncode == 2 and "404 Project 'NOWHERE' not found." in done.stderr


def test_a_copy_is_followed_to_its_verified_end(
    ctx: Context, world: Archive, live_server: LiveServer, token: str
) -> None:
    world.session("S1", "E1")
    args = ["copy", "--from", world.source, "--to", world.dest, "--sessions", "E1"]
    process = subprocess.Popen(
        [
            *SCANDEPOT,
            *args,
            "--session-rule",
            "{label}_b",
            "--poll",
            "0.2",
            "--url",
            live_server.url,
        ],
        env=_env(token),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ran: list[JobStatus] = []
    here = not isinstance(live_server, Through)  # else the deployment's worker runs it
    deadline = time.monotonic() + 60
    while here and not ran and time.monotonic() < deadline:  # the server's job, run here
        time.sleep(0.2)
        ran = run_transfers(ctx)
    out, err = process.communicate(timeout=60)
    if here:
        assert ran == [JobStatus.SUCCEEDED]
    assert process.returncode == 0, (out, err)
    assert "S1/E1 -> S1/E1_b: create (new subject); scans 1,2; 6 file(s)" in out
    assert "S1/E1 -> S1/E1_b: verified; 6 file(s)" in out and "compared by catalog: ok" in out
    assert "verified: 1 session(s), 6 file(s) copied and verified." in out
    assert "transfer 1" in err  # the progress bar's label
    listed = run(live_server, token, "list", "--project", world.dest)
    assert listed.returncode == 0
    assert listed.stdout.split("\t")[1:6] == [
        "copy",
        world.source,
        world.dest,
        "succeeded",
        "6/6",
    ]


@pytest.mark.in_process("damages a file before the test runs the server's job")
def test_a_failed_verification_exits_1_and_keeps_the_source(
    ctx: Context, world: Archive, live_server: LiveServer, token: str
) -> None:
    world.session("S1", "E1")
    args = ["move", "--from", world.source, "--to", world.dest, "--sessions", "E1", "--no-wait"]
    queued = run(live_server, token, *args)
    assert queued.returncode == 0, queued.stderr
    assert "transfer 1 queued" in queued.stdout
    # A file damaged in place on the disk: its link in the destination is the same file,
    # and reading the bytes back finds it.
    damaged = sorted(p for p in (ctx.store.archive / world.source).rglob("*.dcm"))[0]
    damaged.write_bytes(bytes(len(damaged.read_bytes())))
    assert run_transfers(ctx) == [JobStatus.FAILED]
    status = run(live_server, token, "status", "1")
    assert status.returncode == 1, (status.stdout, status.stderr)
    assert "1 mismatch(es)" in status.stdout
    assert "the bytes differ from the source's checksum" in status.stdout
    assert "the source was not deleted" in status.stdout
    assert world.get("sessions/E1", project=world.source).status_code == 200


@pytest.mark.in_process("cancels the server's job before the test runs it")
def test_a_cancelled_transfer_exits_4(
    ctx: Context, world: Archive, live_server: LiveServer, token: str
) -> None:
    world.session("S1", "E1")
    args = ["copy", "--from", world.source, "--to", world.dest, "--sessions", "E1", "--no-wait"]
    assert run(live_server, token, *args).returncode == 0
    waiting = run(live_server, token, "status", "1")
    assert waiting.returncode == 5 and "queued; 0 of 6 file(s)" in waiting.stdout
    cancelled = run(live_server, token, "cancel", "1")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "transfer 1: cancelled. Cancelled by owner before it started." in cancelled.stdout
    assert run_transfers(ctx) == []
    status = run(live_server, token, "status", "1", "--json")
    assert status.returncode == 4
    assert '"status": "cancelled"' in status.stdout
    again = run(live_server, token, "cancel", "1")
    assert again.returncode == 2 and "409 Transfer 1 has already cancelled." in again.stderr


def test_without_a_token_the_server_refuses(
    world: Archive, live_server: LiveServer, tmp_path: Path
) -> None:
    empty = tmp_path / "token"
    empty.write_text("")
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    done = subprocess.run(
        [*SCANDEPOT, "list", "--url", live_server.url, "--token-file", str(empty)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "401" in done.stderr


def test_share_and_unshare_each_object_and_say_which_were_refused(
    ctx: Context, world: Archive, live_server: LiveServer, token: str
) -> None:
    world.session("S1", "E1")
    args = ["--from", world.source, "--to", world.dest]
    done = run(live_server, token, "share", *args, "--sessions", "E1", "--label", "Visit1")
    assert done.returncode == 0, done.stderr
    assert f"session E1: shared into {world.dest} as Visit1" in done.stdout
    seen = world.client.get(
        f"/api/v1/projects/{world.dest}/sessions/Visit1", auth=world.actors["collaborator"]
    )
    assert seen.status_code == 200 and seen.json()["shared_from"]["project"] == world.source
    done = run(live_server, token, "share", *args, "--subjects", "S1,GHOST")
    assert done.returncode == 2
    assert "subject S1:" in done.stderr and "already" in done.stderr  # shared with E1
    assert "subject GHOST: 404 Subject 'GHOST' not found" in done.stderr
    done = run(live_server, token, "unshare", *args, "--subjects", "S1")
    assert done.returncode == 0, done.stderr
    assert f"subject S1: no longer shared into {world.dest}" in done.stdout
    gone = world.client.get(
        f"/api/v1/projects/{world.dest}/sessions/Visit1", auth=world.actors["collaborator"]
    )
    assert gone.status_code == 404
    refused = run(live_server, token, "share", *args, "--sessions", "E1,E2", "--label", "X")
    assert refused.returncode == 2 and "one object only" in refused.stderr
