"""``scandepot notify``: a project's notification recipients and the failed deliveries,
from the server's shell (acts as the system)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import typer

from scandepot.access.actors import SYSTEM
from scandepot.catalog.paging import MAX_LIMIT, PageRequest
from scandepot.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    existing_context,
    service_errors,
    valid_input,
)
from scandepot.notify import failures, subscriptions
from scandepot.notify.subscriptions import RecipientCreate

app = typer.Typer(
    help="Notifications: a project's recipients and the deliveries that failed.",
    no_args_is_help=True,
)
recipients_app = typer.Typer(help="The addresses a project's messages go to.", no_args_is_help=True)
app.add_typer(recipients_app, name="recipients")


@recipients_app.command("list")
def list_recipients(
    project: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List a project's recipients: address and topics."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        for recipient in subscriptions.list_recipients(ctx, SYSTEM, project):
            typer.echo(f"{recipient.address}\t{','.join(recipient.topics)}")


@recipients_app.command("add")
def add_recipient(
    project: str,
    address: str,
    topics: list[str] = typer.Option(
        [],
        "--topic",
        help="archived, process or attention; repeat for several (default: archived).",
    ),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Send a project's messages to an address."""
    with valid_input():
        data = RecipientCreate(address=address, topics=topics or None)
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        added = subscriptions.add_recipient(ctx, SYSTEM, project, data)
    typer.echo(f"{added.address} gets {', '.join(added.topics)} messages of {project}")


@recipients_app.command("remove")
def remove_recipient(
    project: str,
    address: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Stop sending a project's messages to an address."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        found = subscriptions.recipient_by_address(ctx, SYSTEM, project, address)
        subscriptions.remove_recipient(ctx, SYSTEM, project, found)
    typer.echo(f"removed {address.strip()} from {project}")


@app.command("failures")
def list_failures(
    status: str | None = typer.Option(
        None, "--status", help="Only this state (default: refused and failed)."
    ),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """The deliveries that were refused or failed, newest first: ID, state, attempts, code,
    channel, address or URL, project, topic, error; then the count of each state."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        found = failures.report(ctx, SYSTEM, PageRequest(limit=MAX_LIMIT), status=status)
    for f in found.found.items:
        fields = (f.id, f.status, f.attempts, f.code or "-", f.channel, f.to)
        more = (f.project or "-", f.topic, f.error.replace("\n", " "))
        typer.echo("\t".join(str(v) for v in (*fields, *more)))
    typer.echo(", ".join(f"{n} {s}" for s, n in found.counts.items()), err=True)


@app.command("retry")
def retry(
    message_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Send a refused or failed delivery again, from its first attempt."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        done = failures.retry(ctx, SYSTEM, message_id)
    typer.echo(f"message {done.id} to {done.to} is pending again")


@app.command("dismiss")
def dismiss(
    message_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Put a refused or failed delivery aside."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        done = failures.dismiss(ctx, SYSTEM, message_id)
    typer.echo(f"message {done.id} to {done.to} is dismissed")
