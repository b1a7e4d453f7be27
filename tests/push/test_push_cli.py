"""`scandepot push` as a real process against a real server: a push queued, followed to its
end with the report, its status and the project's list, and a refusal's exit status."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from tests import command
from tests.conftest import LiveServer
from tests.push.conftest import Peer, World, run_pushes, use_peer

# The command is a client of the API: what it shows does not depend on the catalog's kind.
pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", ["postgresql"])]

SCANDEPOT = [sys.executable, "-m", "scandepot", "push"]


def _command(world: World, server: LiveServer, *args: str) -> tuple[list[str], dict[str, str]]:
    token = tokens.create(world.ctx, world.actor(), TokenCreate(name="cli")).token
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["SCANDEPOT_TOKEN"] = token
    return [*SCANDEPOT, *args, "--url", server.url], env


def run(world: World, server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    argv, env = _command(world, server, *args)
    return command.run(argv[len(SCANDEPOT) - 1 :], env=env, timeout=120)


def test_a_push_is_queued_followed_and_reported(
    world: World, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.destination()
    use_peer(monkeypatch, Peer())
    argv, env = _command(
        world,
        live_server,
        world.project,
        "--to",
        "node",
        "--session",
        "E1",
        "--wait",
        "--poll",
        "0.2",
    )
    waiting = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not run_pushes(world.ctx):  # until the command has asked for it
            assert waiting.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert "push 1 queued: 6 instance(s) of E1 to node (script export v1" in out
    assert "instances: verified 6" in out
    assert "push 1 succeeded: 6 of 6 instance(s) verified on the far side" in out

    shown = run(world, live_server, "status", "1")
    assert shown.returncode == 0 and "push 1 succeeded" in shown.stdout
    listed = run(world, live_server, "list", world.project)
    assert listed.returncode == 0 and listed.stdout.startswith("1\tsucceeded\tnode\t6/6\tE1")


def test_a_refused_push_exits_2_with_the_reason(world: World, live_server: LiveServer) -> None:
    world.destination()
    done = run(world, live_server, world.project, "--to", "node", "--session", "E9")
    assert done.returncode == 2 and "E9" in done.stderr
    queued = run(world, live_server, "send", world.project, "--to", "node", "--sessions", "E1")
    assert queued.returncode == 0 and "push 1 queued" in queued.stdout
    running = run(world, live_server, "status", "1")
    assert running.returncode == 5 and "queued" in running.stdout
    cancelled = run(world, live_server, "cancel", "1")
    assert cancelled.returncode == 0 and "push 1 cancelled" in cancelled.stdout


def test_a_saved_selection_is_pushed_by_name(world: World, live_server: LiveServer) -> None:
    from scandepot.archive import selections
    from scandepot.archive.selections import SelectionCreate

    world.destination()
    selections.create(
        world.ctx, world.actor(), world.project, SelectionCreate(name="batch", sessions=["E1"])
    )
    queued = run(world, live_server, world.project, "--to", "node", "--selection", "batch")
    assert queued.returncode == 0 and "push 1 queued: 6 instance(s) of E1" in queued.stdout
    unknown = run(world, live_server, world.project, "--to", "node", "--selection", "nope")
    assert unknown.returncode == 2 and "Selection 'nope' not found" in unknown.stderr
