"""`scandepot dicom-node add|list|remove`, and what bad input gets."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import User
from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.dicomnodes import nodes

runner = CliRunner()


def run(ctx: Context, *args: str) -> tuple[int, str, str]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, ["dicom-node", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_add_list_remove(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    make_project("private", label="PRIV")
    code, out, err = run(ctx, "add", "WS1", "--host", "10.0.0.5", "--port", "11112")
    assert code == 0, err
    assert run(ctx, "add", "WS2", "--user", "member", "--project", "PRIV")[0] == 0
    code, out, _ = run(ctx, "list")
    assert code == 0
    assert out.splitlines() == ["WS1\t10.0.0.5:11112\t-\t-\t", "WS2\t-\tmember\tPRIV\t"]
    dest = nodes.destination(ctx, "WS1")
    assert dest is not None and (dest.host, dest.port) == ("10.0.0.5", 11112)
    assert nodes.destination(ctx, "WS2") is None  # no address: not a destination
    assert run(ctx, "remove", "WS1")[0] == 0
    assert nodes.destination(ctx, "WS1") is None
    assert run(ctx, "list")[1].splitlines() == ["WS2\t-\tmember\tPRIV\t"]


def test_bad_input(ctx: Context, users: dict[str, User]) -> None:
    assert run(ctx, "add", "WS1")[0] == 0
    cases = [
        (("add", "WS1"), "exists already"),
        (("add", "BAD\\AE"), "ae_title must be"),
        (("add", "A" * 17), "ae_title must be"),
        (("add", "WS3", "--host", "h"), "host and port go together"),
        (("add", "WS3", "--host", "h", "--port", "0"), "port"),
        (("add", "WS3", "--user", "nobody"), "User 'nobody' not found"),
        (("add", "WS3", "--project", "NOPE"), "Project 'NOPE' not found"),
        (("remove", "WS3"), "DICOM node 'WS3' not found"),
    ]
    for args, message in cases:
        code, _, err = run(ctx, *args)
        assert code == 1 and message in err, (args, err)
    assert [n.ae_title for n in nodes.list_nodes(ctx, SYSTEM)] == ["WS1"]
