"""`scandepot dataset-access` as a real process against a real server: a request asked,
approved by the owner (refused to anyone else), the release downloaded and checked
against its manifest, the validation shown, the approval revoked and the download then
refused (exit 2 with the reason)."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.datasets import DatasetVersion
from scandepot.context import Context
from scandepot.datasets import validation
from tests import command
from tests.conftest import LiveServer
from tests.datasets.released import Released, run_jobs

pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", ["sqlite"])]
PURPOSE = "Training a segmentation model for hippocampal atrophy."


def test_request_approve_download_revoke_through_the_command(
    ctx: Context,
    users: dict[str, User],
    published: Released,
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, published.version_id)
        assert version is not None
        validation.start(db, version)
    assert run_jobs(ctx) == ["succeeded"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}

    def run(who: str, *args: Any) -> subprocess.CompletedProcess[str]:
        actor = actor_for(users[who])
        env["SCANDEPOT_TOKEN"] = tokens.create(ctx, actor, TokenCreate(name="cli")).token
        argv = ["dataset-access", *map(str, args), "--url", live_server.url]
        return command.run(argv, env=env, timeout=120, cwd=tmp_path)

    d = published.dataset
    asked = run("member", "request", d, 1, "--purpose", PURPOSE)
    assert asked.returncode == 0, asked.stderr
    number = asked.stdout.split("\t")[0]
    assert asked.stdout.split("\t")[3].startswith("pending")
    refused = run("member", "approve", d, 1, number)
    assert refused.returncode == 2 and "403 Only the dataset's owners" in refused.stderr
    approved = run("owner", "approve", d, 1, number, "--comment", "Welcome")
    assert approved.returncode == 0 and "\tapproved, owner: Welcome\t" in approved.stdout
    got = run("member", "download", d, 1)
    assert got.returncode == 0, got.stderr
    assert "every file matches the release's manifest" in got.stdout
    with zipfile.ZipFile(tmp_path / f"{d}-v1.zip") as zf:
        names = zf.namelist()
    assert names[0] == "manifest.json" and len(names) == 2 + 8
    shown = run("owner", "validation", d, 1)
    assert shown.returncode == 0 and shown.stdout.startswith(f"{d} v1: validation passed")
    assert "  checksums: passed, 8 checked, 0 problem(s)" in shown.stdout
    assert run("owner", "revoke", d, 1, number).returncode == 0
    again = run("member", "download", d, 1, "-o", tmp_path / "again.zip")
    assert again.returncode == 2 and "403" in again.stderr
    assert not (tmp_path / "again.zip").exists()
