"""`scandepot notify recipients list|add|remove` and `scandepot notify failures|retry|
dismiss`, and what bad input gets."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import User
from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.notify import subscriptions
from tests.notify.test_failures import refused_and_failed

runner = CliRunner()


def run(ctx: Context, *args: str) -> tuple[int, str, str]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, ["notify", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_recipients_add_list_remove(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    project = make_project("private")
    code, out, err = run(ctx, "recipients", "add", project, "PI@Example.org")
    assert code == 0, err
    assert out.strip() == f"PI@example.org gets archived messages of {project}"
    code, _, err = run(
        ctx,
        "recipients",
        "add",
        project,
        "lab@example.org",
        "--topic",
        "process",
        "--topic",
        "attention",
    )
    assert code == 0, err
    code, out, _ = run(ctx, "recipients", "list", project)
    assert out.splitlines() == ["PI@example.org\tarchived", "lab@example.org\tprocess,attention"]
    assert run(ctx, "recipients", "remove", project, "pi@example.org")[0] == 0
    assert [r.address for r in subscriptions.list_recipients(ctx, SYSTEM, project)] == [
        "lab@example.org"
    ]


def test_bad_input(ctx: Context, make_project: Callable[..., str], users: dict[str, User]) -> None:
    project = make_project("private")
    assert run(ctx, "recipients", "add", project, "pi@example.org")[0] == 0
    cases = [
        (("recipients", "add", project, "not-an-email"), "is not an email address"),
        (("recipients", "add", project, "x@example.org", "--topic", "weekly"), "'weekly'"),
        (("recipients", "add", project, "pi@example.org"), "is a recipient of project"),
        (("recipients", "add", "NOPE", "x@example.org"), "Project 'NOPE' not found"),
        (("recipients", "remove", project, "x@example.org"), "is not a recipient"),
        (("failures", "--status", "lost"), "Unknown status 'lost'"),
        (("retry", "999999"), "Message 999999 not found"),
    ]
    for args, message in cases:
        code, _, err = run(ctx, *args)
        assert code == 1 and message in err, (args, err)
    assert len(subscriptions.list_recipients(ctx, SYSTEM, project)) == 1


def test_failures_retry_dismiss(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    project = make_project("private")
    refused, failed, _ = refused_and_failed(ctx, project)
    code, out, err = run(ctx, "failures")
    assert code == 0, err
    lines = [line.split("\t") for line in out.splitlines()]
    assert [line[:6] for line in lines] == [
        [
            str(failed),
            "failed",
            str(ctx.settings.notify_max_attempts),
            "451",
            "email",
            "slow@example.org",
        ],
        [str(refused), "refused", "1", "550", "email", "gone@example.org"],
    ]
    assert lines[1][6:] == [project, "archived", "550 no such user"]
    assert "1 sent, 1 refused, 1 failed" in err
    assert run(ctx, "retry", str(refused)) == (
        0,
        f"message {refused} to gone@example.org is pending again\n",
        "",
    )
    assert run(ctx, "dismiss", str(failed))[0] == 0
    assert run(ctx, "failures")[1] == ""
    assert run(ctx, "failures", "--status", "dismissed")[1].startswith(f"{failed}\tdismissed")
    code, _, err = run(ctx, "dismiss", str(failed))
    assert code == 1 and "only refused and failed ones" in err
