"""`scandepot selection` as a real process against a real server: a selection saved,
changed, shown, listed, renamed and deleted; a refusal exits 2 with the reason."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from scandepot.access import tokens
from scandepot.access.actors import SYSTEM
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.archive import sessions, subjects
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.access import User
from scandepot.context import Context
from tests import command
from tests.conftest import LiveServer

# The command is a client of the API: what it shows does not depend on the catalog's kind.
pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", ["sqlite"])]


def test_a_selection_through_the_command(
    ctx: Context,
    users: dict[str, User],
    make_project: Callable[..., str],
    live_server: LiveServer,
) -> None:
    project = make_project()
    subjects.create(ctx, SYSTEM, project, SubjectCreate(label="S1"))
    for label in ("E1", "E2", "E3"):
        sessions.create(ctx, SYSTEM, project, SessionCreate(label=label, subject="S1"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}

    def run(who: str, *args: str) -> subprocess.CompletedProcess[str]:
        actor = actor_for(users[who])
        env["SCANDEPOT_TOKEN"] = tokens.create(ctx, actor, TokenCreate(name="cli")).token
        argv = ["selection", *args, "--url", live_server.url]
        return command.run(argv, env=env, timeout=120)

    saved = run("member", "save", project, "base", "--session", "E1,E2", "--description", "t0")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.startswith("base: 2 session(s), saved by member")
    assert "\n  E1\tS1\tSD_E" in saved.stdout
    added = run("member", "add", project, "base", "--session", "E3")
    assert added.returncode == 0 and "3 session(s)" in added.stdout
    removed = run("member", "remove", project, "base", "--sessions", "E1")
    assert removed.returncode == 0 and "  E1\t" not in removed.stdout
    renamed = run("member", "rename", project, "base", "week1")
    assert renamed.returncode == 0 and renamed.stdout.startswith("week1: 2 session(s)")
    shown = run("collaborator", "show", project, "week1")
    assert [line.split("\t")[0].strip() for line in shown.stdout.splitlines()[1:]] == [
        "E2",
        "E3",
    ]
    listed = run("collaborator", "list", project)
    assert listed.stdout == "week1\t2\tmember\tt0\n"
    refused = run("member", "delete", project, "week1")
    assert refused.returncode == 2 and "permission" in refused.stderr
    missing = run("member", "add", project, "week1", "--session", "E9")
    assert missing.returncode == 2 and "E9" in missing.stderr
    deleted = run("owner", "delete", project, "week1")
    assert deleted.returncode == 0 and deleted.stdout == "selection week1 deleted\n"
    assert run("owner", "list", project).stdout == ""
