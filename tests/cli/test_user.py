"""`scandepot user add|list|disable|enable|set-password`."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from scandepot.cli.main import app as cli
from scandepot.context import Context
from tests.helpers import API

runner = CliRunner()


def run(ctx: Context, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    env = {"SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir)}
    if ctx.settings.database_url:
        env["SCANDEPOT_DATABASE_URL"] = ctx.settings.database_url
    result = runner.invoke(cli, ["user", *args], env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def me(client: TestClient, login: str, password: str) -> httpx.Response:
    return client.get(f"{API}/auth/me", auth=(login, password))


def test_user_commands(ctx: Context, client: TestClient) -> None:
    code, out, _ = run(
        ctx,
        "add",
        "alice",
        "--name",
        "Alice A",
        "--email",
        "a@example.org",
        "--password",
        "alice-password",
    )
    assert code == 0 and "created alice" in out
    assert me(client, "alice", "alice-password").json()["full_name"] == "Alice A"

    code, out, _ = run(ctx, "add", "bob", "--generate")
    generated = out.split("with password: ")[1].strip()
    assert me(client, "bob", generated).status_code == 200

    code, out, _ = run(ctx, "add", "carol", stdin="carol-password\ncarol-password\n")
    assert code == 0 and me(client, "carol", "carol-password").status_code == 200

    code, _, err = run(ctx, "add", "alice", "--password", "another-one")
    assert code == 1 and "already exists" in err
    code, _, err = run(ctx, "add", "dave", "--password", "short")
    assert code == 1 and "at least 8" in err

    code, out, _ = run(ctx, "list")
    assert code == 0 and "alice\tAlice A\ta@example.org" in out

    assert run(ctx, "disable", "alice")[0] == 0
    assert me(client, "alice", "alice-password").status_code == 401
    assert "disabled" in run(ctx, "list")[1].split("alice", 1)[1].splitlines()[0]
    assert run(ctx, "enable", "alice")[0] == 0
    assert me(client, "alice", "alice-password").status_code == 200

    assert run(ctx, "set-password", "alice", "--password", "brand-new-pass")[0] == 0
    assert me(client, "alice", "alice-password").status_code == 401
    assert me(client, "alice", "brand-new-pass").status_code == 200
    code, _, err = run(ctx, "disable", "nobody")
    assert code == 1 and "not found" in err


def test_user_command_errors(ctx: Context, client: TestClient) -> None:
    code, _, err = run(ctx, "add", "erin", "--email", "not-an-email", "--password", "long-enough")
    assert code == 1 and "email" in err and "Traceback" not in err
    assert me(client, "erin", "long-enough").status_code == 401
    run(ctx, "add", "root2", "--site-admin", "--password", "long-enough")
    # The admin fixture account does not exist here: root2 is the only site admin.
    code, _, err = run(ctx, "disable", "root2")
    assert code == 1 and "last enabled site administrator" in err
    assert me(client, "root2", "long-enough").status_code == 200
