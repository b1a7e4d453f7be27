"""`scandepot webhook add|list|remove|deliveries`, and what bad input gets."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner

from scandepot.access.actors import SYSTEM
from scandepot.catalog import journal
from scandepot.catalog.access import User
from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.events import SessionArchived
from scandepot.notify import webhooks

runner = CliRunner()
SECRET = "cli-secret-0123456789ab"


def run(ctx: Context, *args: str) -> tuple[int, str, str]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, ["webhook", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_add_list_deliveries_remove(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project(label="P")
    code, out, err = run(ctx, "add", "P", "http://127.0.0.1:9/in")
    assert code == 0, err
    first, secret_line = out.splitlines()
    assert first.startswith("added webhook ") and first.endswith(" of P: http://127.0.0.1:9/in")
    secret = secret_line.removeprefix("secret (shown once, keep it): ")
    assert len(secret) >= 40
    code, out, err = run(
        ctx,
        "add",
        "P",
        "https://h.example.org/",
        "--secret",
        SECRET,
        "--event",
        "SessionArchived",
        "--event",
        "JobFinished",
        "--description",
        "LIMS",
    )
    assert code == 0 and "secret" not in out, err
    one, two = webhooks.list_webhooks(ctx, SYSTEM, "P")
    code, out, _ = run(ctx, "list", "P")
    assert code == 0
    assert out.splitlines() == [
        f"{one.id}\thttp://127.0.0.1:9/in\ton\tall\t…{secret[-4:]}\t",
        f"{two.id}\thttps://h.example.org/\ton\tJobFinished,SessionArchived\t…89ab\tLIMS",
    ]
    assert secret not in out and SECRET not in out

    with ctx.db.write() as db:
        event = SessionArchived("P", "S1", "E1", "SD_E00001", ("1",))
        webhooks.enqueue(db, journal.record(db, event), public_url="https://a.example.org")
    code, out, _ = run(ctx, "deliveries", "P")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    assert all("\tSessionArchived\tpending\t0\t-\t" in line for line in lines)

    assert run(ctx, "remove", "P", str(one.id))[0] == 0
    assert [v.id for v in webhooks.list_webhooks(ctx, SYSTEM, "P")] == [two.id]


def test_bad_input(ctx: Context, make_project: Callable[..., str], users: dict[str, User]) -> None:
    make_project(label="P")
    cases = [
        (("add", "P", "ftp://h.example.org/"), "http:// or https://"),
        (("add", "P", "https://u:p@h.example.org/"), "user name or password"),
        (("add", "P", "https://h.example.org/", "--secret", "short"), "16 to 256"),
        (("add", "P", "https://h.example.org/", "--event", "Nope"), "No event 'Nope'"),
        (("add", "NOPE", "https://h.example.org/"), "Project 'NOPE' not found"),
        (("remove", "P", "99"), "no webhook 99"),
        (("list", "NOPE"), "Project 'NOPE' not found"),
    ]
    for args, message in cases:
        code, _, err = run(ctx, *args)
        assert code == 1 and message in err, (args, err)
    assert webhooks.list_webhooks(ctx, SYSTEM, "P") == []
