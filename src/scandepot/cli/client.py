"""The client commands alone (see :mod:`scandepot.cli.entry`); the full app in
:mod:`scandepot.cli.main` registers the same functions."""

from __future__ import annotations

import typer

from scandepot.cli import download, login, upload

app = typer.Typer(
    name="scandepot",
    help="A research imaging archive.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("download")(download.download)
app.command("upload")(upload.upload)
app.command("login")(login.login)
