"""``scandepot login``: exchange a password for an API token once, and keep the token.

The password is asked for on the terminal (never an argument); the token is saved with
the server's address in the credentials file (see :mod:`scandepot.cli.remote`), which
``scandepot upload`` and ``scandepot download`` then use.
"""

from __future__ import annotations

import re
import socket

import httpx
import typer

from scandepot.cli.remote import (
    DEFAULT_URL,
    URL_HELP,
    Refused,
    error_message,
    resolve,
    save_credentials,
)


def login(
    user: str = typer.Option(..., "--user", prompt="Login", help="Your login on the server."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    days: int | None = typer.Option(
        None, "--days", min=1, max=3650, help="Token lifetime in days (default: the site's)."
    ),
) -> None:
    """Sign in to a server and save an API token for the other commands."""
    try:
        server = resolve(url, None).url
    except Refused:  # unreadable saved credentials: this login replaces them
        server = url or DEFAULT_URL
    password = typer.prompt("Password", hide_input=True)
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"cli-{socket.gethostname()}")[:64].strip("-")
    body: dict[str, object] = {"name": name}
    if days is not None:
        body["expires_in_days"] = days
    try:
        response = httpx.post(
            f"{server.rstrip('/')}/api/v1/auth/tokens", json=body, auth=(user, password), timeout=30
        )
    except httpx.TransportError as exc:
        typer.echo(f"error: cannot reach {server}: {exc}", err=True)
        raise typer.Exit(2) from None
    if response.status_code != 201:
        typer.echo(f"error: {error_message(response)}", err=True)
        raise typer.Exit(2)
    path = save_credentials(server, response.json()["token"])
    typer.echo(f"Signed in to {server} as {user}; token saved in {path}.")
