"""``scandepot mail``: the mail server notifications are sent through."""

from __future__ import annotations

import typer

from scandepot.cli.common import load_settings, service_errors

app = typer.Typer(help="The mail server notifications are sent through.", no_args_is_help=True)


@app.command("test")
def test(address: str = typer.Argument(..., help="Where to send the test message.")) -> None:
    """Send a test message now with the settings in force and show what the mail server
    answered; exit 1 when it was not accepted."""
    from scandepot.notify import mailtest, smtp

    settings = load_settings()

    def show(step: str, code: int, reply: str) -> None:
        typer.echo(f"{step}: {code} {reply}")

    with service_errors():
        to = mailtest.recipient(settings, address)
    typer.echo(f"connecting to {smtp.where(settings)}")
    attempt = mailtest.send(settings, to, show)
    if not attempt.ok:
        typer.echo(f"error: {attempt.error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"sent to {to}: the mail server accepted it")
