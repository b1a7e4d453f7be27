"""``scandepot dicom-node``: the DICOM peers set up by the site (acts as the system)."""

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
from scandepot.dicomnodes import nodes
from scandepot.dicomnodes.nodes import NodeCreate

app = typer.Typer(
    help="Manage DICOM nodes: C-MOVE destinations and the rights of calling AE titles.",
    no_args_is_help=True,
)


@app.command("add")
def add(
    ae_title: str,
    host: str | None = typer.Option(None, "--host", help="Where it listens (C-MOVE)."),
    port: int | None = typer.Option(None, "--port", help="Its DICOM port (C-MOVE)."),
    login: str | None = typer.Option(
        None, "--user", help="Calling with this AE title queries with this account's rights."
    ),
    project: str | None = typer.Option(
        None, "--project", help="Calling with this AE title queries this project only."
    ),
    description: str = typer.Option("", "--description"),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Set up a DICOM node."""
    with valid_input():
        data = NodeCreate(
            ae_title=ae_title,
            host=host,
            port=port,
            login=login,
            project=project,
            description=description,
        )
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        node = nodes.add(ctx, SYSTEM, data)
    typer.echo(f"added DICOM node {node.ae_title}")


@app.command("list")
def list_nodes(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List the DICOM nodes: AE title, address, account, project, description."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        for node in nodes.list_nodes(ctx, SYSTEM):
            address = f"{node.host}:{node.port}" if node.host else "-"
            fields = (node.ae_title, address, node.login or "-", node.project or "-")
            typer.echo("\t".join((*fields, node.description)))


@app.command("remove")
def remove(
    ae_title: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Remove a DICOM node: no longer a destination; its title calls as unmapped."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        nodes.remove(ctx, SYSTEM, ae_title)
    typer.echo(f"removed DICOM node {ae_title.strip()}")
