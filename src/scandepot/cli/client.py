"""The client commands alone (see :mod:`scandepot.cli.entry`); the full app in
:mod:`scandepot.cli.main` registers the same functions."""

from __future__ import annotations

import typer

from scandepot.cli import deid_remote, download, login, transfer, upload


def new_app() -> typer.Typer:
    """The ``scandepot`` command group, as both apps present it."""
    return typer.Typer(
        name="scandepot",
        help="A research imaging archive.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )


app = new_app()
app.command("download")(download.download)
app.command("upload")(upload.upload)
app.command("login")(login.login)
app.add_typer(transfer.app, name="transfer")
app.add_typer(deid_remote.script_app, name="deid-script")
app.add_typer(deid_remote.pseudonym_app, name="pseudonym")
