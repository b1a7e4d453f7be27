"""``scandepot user``: manage accounts from the server's shell (acts as the system)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import typer

from scandepot.access import users
from scandepot.access.actors import SYSTEM
from scandepot.access.passwords import generate_password
from scandepot.access.users import UserCreate, UserUpdate
from scandepot.catalog.paging import MAX_LIMIT, PageRequest
from scandepot.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    existing_context,
    service_errors,
    valid_input,
)

app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)

PasswordOption = typer.Option(
    None,
    "--password",
    help="The password; without it you are asked for one (or one is generated with --generate).",
)


def _ask_password(given: str | None, generate: bool) -> str | None:
    if given is not None or generate:
        return given
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@app.command("add")
def add(
    login: str,
    full_name: str = typer.Option("", "--name", help="Full name."),
    email: str | None = typer.Option(None, "--email"),
    site_admin: bool = typer.Option(False, "--site-admin", help="Make a site administrator."),
    password: str | None = PasswordOption,
    generate: bool = typer.Option(False, "--generate", help="Generate a password and print it."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Create an account."""
    with valid_input():
        data = UserCreate(
            login=login,
            full_name=full_name,
            email=email,
            password=_ask_password(password, generate),
            site_admin=site_admin,
        )
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        _user, generated = users.create(ctx, SYSTEM, data)
    typer.echo(f"created {login}" + (f" with password: {generated}" if generated else ""))


@app.command("list")
def list_users(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List every account."""
    ctx = existing_context(data_dir, database_url)
    try:
        offset = 0
        while True:
            page = users.list_users(ctx, SYSTEM, PageRequest(limit=MAX_LIMIT, offset=offset))
            for u in page.items:
                flags = ",".join(
                    f
                    for f, on in (
                        ("admin", u.is_site_admin),
                        ("curator", u.is_curator),
                        ("disabled", not u.enabled),
                    )
                    if on
                )
                typer.echo(f"{u.login}\t{u.full_name}\t{u.email}\t{flags}")
            offset += len(page.items)
            if offset >= page.total or not page.items:
                break
    finally:
        ctx.close()


def _update(login: str, data: UserUpdate, data_dir: Path | None, database_url: str | None) -> None:
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        users.update(ctx, SYSTEM, login, data)


@app.command("disable")
def disable(
    login: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Lock an account out at once (its sign-ins end, its tokens stop working)."""
    _update(login, UserUpdate(enabled=False), data_dir, database_url)
    typer.echo(f"disabled {login}")


@app.command("enable")
def enable(
    login: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Let a disabled account sign in again."""
    _update(login, UserUpdate(enabled=True), data_dir, database_url)
    typer.echo(f"enabled {login}")


@app.command("curator")
def curator(
    login: str,
    off: bool = typer.Option(False, "--off", help="Take the role away instead."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Give the curator role (validates released datasets, or sends them back), or take it."""
    _update(login, UserUpdate(curator=not off), data_dir, database_url)
    typer.echo(f"{login} is {'no longer ' if off else ''}a curator")


@app.command("set-password")
def set_password(
    login: str,
    password: str | None = PasswordOption,
    generate: bool = typer.Option(False, "--generate", help="Generate a password and print it."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Set an account's password; its browser sign-ins end."""
    chosen = _ask_password(password, generate) or generate_password()
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        users.set_password(ctx, SYSTEM, login, chosen)
    typer.echo(
        f"password of {login} set" + (f": {chosen}" if password is None and generate else "")
    )
