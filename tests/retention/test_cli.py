"""`scandepot retention plan|run|hold|release` on a site's catalog and files."""

from __future__ import annotations

import datetime as dt

from typer.testing import CliRunner

from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.db.base import utcnow
from tests.retention.world import audited, schedule, temporary

runner = CliRunner()


def run(ctx: Context, *args: str) -> tuple[int, str, str]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, ["retention", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_plan_hold_run_release(ctx: Context) -> None:
    assert run(ctx, "plan")[1] == "nothing is planned for deletion\n"
    old = temporary(ctx, utcnow() - dt.timedelta(hours=5), size=7)
    schedule(ctx, "temporary", age_hours=2)
    code, out, _ = run(ctx, "plan")
    (line,) = out.splitlines()
    assert code == 0 and line.split("\t")[1:5] == ["temporary", old.name, "7", "-"]
    code, out, err = run(ctx, "hold", "temporary", old.name, "--reason", "kept for a look")
    assert code == 0, err
    assert run(ctx, "plan")[1].split("\t")[4] == "held"
    assert run(ctx, "run")[1] == "warned 0, deleted 0 (0 bytes), held 1, skipped 0, failed 0\n"
    assert old.exists()
    assert run(ctx, "release", "temporary", old.name)[0] == 0
    assert run(ctx, "run")[1] == "warned 0, deleted 1 (7 bytes), held 0, skipped 0, failed 0\n"
    assert not old.exists()
    assert [e.target for e in audited(ctx)] == [f"temporary:{old.name}"]


def test_bad_input_is_refused_with_the_field(ctx: Context) -> None:
    code, _out, err = run(ctx, "hold", "attic", "x")
    assert code != 0 and "area" in err and "No staging area 'attic'" in err
    code, _out, err = run(ctx, "hold", "temporary", "nothing.part")
    assert code != 0 and "No item 'nothing.part'" in err
    code, _out, err = run(ctx, "release", "temporary", "nothing.part")
    assert code != 0 and "is not held" in err
    assert audited(ctx, "retention.held") == []
