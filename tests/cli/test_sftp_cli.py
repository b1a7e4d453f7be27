"""`scandepot drop-account add|list|set|remove` and `scandepot ssh-key add|list|remove`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.ingest import sftp_signin
from scandepot.ingest.sftp_signin import DropPrincipal

runner = CliRunner()
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2PnFcpnnSpVb4XuuV33FyKHZRl8QYZtoKQ8AbJ+ZZm me@host"


def run(ctx: Context, *args: str) -> tuple[int, str, str]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_drop_account_commands(
    ctx: Context, make_project: Callable[..., str], tmp_path: Path
) -> None:
    project = make_project()
    code, out, _ = run(ctx, "drop-account", "add", project, "mr3t")
    assert code == 0
    password = out.split("with password: ")[1].strip()
    signed = sftp_signin.by_password(ctx, f"{project}+mr3t", password, address=None)
    assert isinstance(signed, DropPrincipal) and signed.project == project
    key = tmp_path / "console.pub"
    key.write_text(KEY + "\n")
    code, out, _ = run(ctx, "drop-account", "set", project, "mr3t", "--key", str(key), "--disable")
    assert (code, out.strip()) == (0, f"changed {project}+mr3t")
    code, out, _ = run(ctx, "drop-account", "list", project)
    assert out.split("\n")[0].split("\t") == [f"{project}+mr3t", "password", "1 key(s)", "disabled"]
    code, _, err = run(ctx, "drop-account", "add", project, "bad+name")
    assert code == 1 and "name must be" in err
    code, _, err = run(ctx, "drop-account", "add", "NOPE", "mr3t")
    assert code == 1 and "not found" in err
    code, out, _ = run(ctx, "drop-account", "remove", project, "mr3t")
    assert code == 0 and run(ctx, "drop-account", "list", project)[1] == ""


def test_ssh_key_commands(ctx: Context, users: object, tmp_path: Path) -> None:
    key = tmp_path / "id.pub"
    key.write_text(KEY + "\n")
    code, out, _ = run(ctx, "ssh-key", "add", "member", str(key))
    assert code == 0 and "SHA256:WRlveDZ9toSfqEOUCigW6cFopJBVUQFasbr7UES93Q0" in out
    number = out.split()[1]
    code, out, _ = run(ctx, "ssh-key", "list", "member")
    assert out.split("\t")[0] == number and out.strip().endswith("me@host")
    code, _, err = run(ctx, "ssh-key", "add", "member", str(key))
    assert code == 1 and "registered already" in err
    code, _, err = run(ctx, "ssh-key", "add", "nobody", str(key))
    assert code == 1 and "not found" in err
    assert run(ctx, "ssh-key", "remove", "member", number)[0] == 0
    assert run(ctx, "ssh-key", "list", "member")[1] == ""
