"""``scandepot drop-account`` and ``scandepot ssh-key``: SFTP sign-ins from the server's
shell (acts as the system): drop accounts of a project, users' SSH public keys."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import typer

from scandepot.access.actors import SYSTEM
from scandepot.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    existing_context,
    service_errors,
    valid_input,
)
from scandepot.ingest import drop_accounts, ssh_keys
from scandepot.ingest.drop_accounts import DropAccountCreate, DropAccountUpdate

app = typer.Typer(help="Manage SFTP drop accounts of a project.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage users' SSH public keys (SFTP sign-in).", no_args_is_help=True)

KeyFileOption = typer.Option(
    None, "--key", help="A file with an OpenSSH public key line (e.g. id_ed25519.pub)."
)


def _key_lines(path: Path | None) -> list[str]:
    if path is None:
        return []
    return [line for line in path.read_text().splitlines() if line.strip()]


@app.command("add")
def add(
    project: str,
    name: str,
    password: str | None = typer.Option(None, "--password", help="The password."),
    key: Path | None = KeyFileOption,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Make a drop account PROJECT+NAME; with neither --password nor --key a password is
    generated and printed once."""
    with valid_input():
        data = DropAccountCreate(name=name, password=password, public_keys=_key_lines(key))
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        view, generated = drop_accounts.create(ctx, SYSTEM, project, data)
    typer.echo(f"created {view.username}" + (f" with password: {generated}" if generated else ""))


@app.command("list")
def list_accounts(
    project: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List a project's drop accounts: name, password set, keys, enabled."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        for v in drop_accounts.list_accounts(ctx, SYSTEM, project):
            state = "enabled" if v.enabled else "disabled"
            password = "password" if v.has_password else "no password"
            typer.echo(f"{v.username}\t{password}\t{len(v.keys)} key(s)\t{state}")


@app.command("set")
def set_account(
    project: str,
    name: str,
    password: str | None = typer.Option(None, "--password", help="A new password."),
    key: Path | None = KeyFileOption,
    enabled: bool | None = typer.Option(None, "--enable/--disable", help="Let it sign in."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Change a drop account: a new password, a key added, enabled or disabled."""
    with valid_input():
        data = DropAccountUpdate(
            password=password, add_public_keys=_key_lines(key), enabled=enabled
        )
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        view = drop_accounts.update(ctx, SYSTEM, project, name, data)
    typer.echo(f"changed {view.username}")


@app.command("remove")
def remove(
    project: str,
    name: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Delete a drop account (what it dropped stays)."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        drop_accounts.delete(ctx, SYSTEM, project, name)
    typer.echo(f"removed {drop_accounts.username(project, name)}")


@keys_app.command("add")
def add_key(
    login: str,
    key: Path = typer.Argument(..., help="A file with an OpenSSH public key line."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Register a user's SSH public key."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        for line in _key_lines(key):
            view = ssh_keys.add_key(ctx, SYSTEM, login, line)
            typer.echo(f"added {view.id}\t{view.fingerprint}")


@keys_app.command("list")
def list_keys(
    login: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List a user's SSH keys: number, fingerprint, type, comment."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        for v in ssh_keys.list_keys(ctx, SYSTEM, login):
            typer.echo(f"{v.id}\t{v.fingerprint}\t{v.type}\t{v.comment}")


@keys_app.command("remove")
def remove_key(
    login: str,
    key_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Remove a user's SSH key by its number (from `scandepot ssh-key list`)."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        ssh_keys.remove_key(ctx, SYSTEM, login, key_id)
    typer.echo(f"removed key {key_id} of {login}")
