"""``scandepot webhook``: a project's webhooks and their delivery log (acts as the system,
on the data folder and catalog of this machine)."""

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
from scandepot.notify import webhook_log, webhooks
from scandepot.notify.webhooks import WebhookCreate

app = typer.Typer(
    help="Manage a project's webhooks: signed JSON deliveries of its events.",
    no_args_is_help=True,
)


@app.command("add")
def add(
    project: str,
    url: str,
    event: list[str] = typer.Option(
        [], "--event", help="Send this event only (repeat for more); none given: every event."
    ),
    secret: str | None = typer.Option(
        None,
        "--secret",
        envvar="SCANDEPOT_WEBHOOK_SECRET",
        help="The signing secret (16 characters or more); none given: one is made and printed.",
    ),
    description: str = typer.Option("", "--description"),
    disabled: bool = typer.Option(False, "--disabled", help="Set it up switched off."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Set up a webhook for PROJECT that POSTs its events to URL."""
    with valid_input():
        data = WebhookCreate(
            url=url, secret=secret, events=event, description=description, enabled=not disabled
        )
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        view = webhooks.add(ctx, SYSTEM, project, data)
    typer.echo(f"added webhook {view.id} of {project}: {view.url}")
    if view.secret is not None:
        typer.echo(f"secret (shown once, keep it): {view.secret}")


@app.command("list")
def list_webhooks(
    project: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List PROJECT's webhooks: ID, URL, on or off, events, the secret's last characters."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        found = webhooks.list_webhooks(ctx, SYSTEM, project)
    for view in found:
        state = "on" if view.enabled else "off"
        events = ",".join(view.events) or "all"
        hint = f"…{view.secret_hint}" if view.secret_hint else "-"
        typer.echo("\t".join((str(view.id), view.url, state, events, hint, view.description)))


@app.command("remove")
def remove(
    project: str,
    webhook_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Remove webhook WEBHOOK_ID of PROJECT; deliveries still waiting are not sent
    (the log shows them refused: webhook removed)."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        webhooks.remove(ctx, SYSTEM, project, webhook_id)
    typer.echo(f"removed webhook {webhook_id} of {project}")


@app.command("deliveries")
def deliveries(
    project: str,
    limit: int = typer.Option(50, "--limit", min=1, max=webhook_log.MOST),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """PROJECT's latest webhook deliveries, newest first: ID, when, event, status, attempts,
    last HTTP status, URL, last error."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        found = webhook_log.deliveries(ctx, SYSTEM, project, limit=limit)
    for view in found:
        fields = (
            str(view.id),
            view.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            view.event,
            view.status,
            str(view.attempts),
            str(view.last_code or "-"),
            view.url,
            view.last_error,
        )
        typer.echo("\t".join(fields))
