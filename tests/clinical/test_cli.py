"""`scandepot clinical` as a real process against a real server: a schema set and shown,
an import refused row by row then taken, a record shown, an export written."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scandepot.access import tokens
from scandepot.access.tokens import TokenCreate
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.context import Context
from tests import command
from tests.clinical.world import SCHEMA, make_subjects
from tests.conftest import LiveServer

# A client of the API: what it prints does not depend on the server's catalog.
pytestmark = [pytest.mark.interop, pytest.mark.parametrize("backend", ["sqlite"])]


def _run(server: LiveServer, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env["SCANDEPOT_TOKEN"] = token
    return command.run(["clinical", *args, "--url", server.url], env=env, timeout=120)


def test_schema_import_show_export(
    ctx: Context,
    users: dict[str, User],
    make_project: Callable[..., str],
    live_server: LiveServer,
    tmp_path: Path,
) -> None:
    project = make_project()
    make_subjects(ctx, project, "S1", "S2")
    token = tokens.create(ctx, actor_for(users["owner"]), TokenCreate(name="cli")).token
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    done = _run(live_server, token, "schema-set", project, str(schema))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "saved subject v1, 6 variables"
    shown = _run(live_server, token, "schema-show", project)
    assert json.loads(shown.stdout)["properties"]["weight"]["x-unit"] == "kg"
    data = tmp_path / "records.csv"
    data.write_text("subject,Dx,age\nS1,AD,70\nS2,flu,x\n", encoding="utf-8")
    refused = _run(live_server, token, "import", project, str(data), "--map", "Dx=diagnosis")
    assert refused.returncode == 1, refused.stderr
    assert "row 3 (S2): age: 'x' is not an integer" in refused.stdout
    assert "nothing written: 1 refused, 1 not written" in refused.stdout
    taken = _run(
        live_server, token, "import", project, str(data), "--map", "Dx=diagnosis", "--partial"
    )
    assert taken.returncode == 1 and "written: 1 created, 1 refused" in taken.stdout
    record = json.loads(_run(live_server, token, "show", project, "S1").stdout)
    assert record["values"] == {"age": 70, "diagnosis": "AD"} and record["updated_by"] == "owner"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("subject,notes\nS1,Jos\xe9\n".encode("latin-1"))
    bad = _run(live_server, token, "import", project, str(latin))
    assert bad.returncode == 2 and "Save it as UTF-8" in bad.stderr
    out = tmp_path / "out.csv"
    exported = _run(live_server, token, "export", project, "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    assert out.read_text().splitlines()[1] == "S1,,70,AD,,,"
