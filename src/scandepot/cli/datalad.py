"""``scandepot datalad``: DataLad access from the server's shell (acts as the system)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import typer

from scandepot.access.actors import SYSTEM
from scandepot.cli.common import DatabaseUrlOption, DataDirOption, existing_context, service_errors

app = typer.Typer(
    help="DataLad access: visit tarballs, metadata and datasets.", no_args_is_help=True
)


@app.command("deposit")
def deposit(
    store_dir: Path = typer.Option(..., "--store-dir", help="The store's folder (it must exist)."),
    ids: tuple[str, str] = typer.Option(
        ..., "--id", help="The project and the visit (the session's ID, e.g. SD_E00001)."
    ),
    store_url: str | None = typer.Option(
        None,
        "--store-url",
        help="Base URL the dataset registers for the tarball (default: file:// of the folder).",
    ),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Write a visit's tarball, metadata and DataLad dataset into a store folder, in the
    INM-ICF layout: {store}/{project}/{visit}_dicom.tar and the files beside it."""
    from scandepot.datalad import offline

    project, visit = ids
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        made = offline.deposit_visit(ctx, SYSTEM, store_dir, project, visit, store_url=store_url)
    folder = store_dir.resolve() / made.visit.project
    typer.echo(f"{folder}/{made.visit.tar_name}\t{made.tar_size} bytes\tmd5 {made.tar_md5}")
    typer.echo(f"{made.dicoms} DICOM files; clone with:")
    typer.echo(
        "  datalad clone 'datalad-annex::?type=external&externaltype=uncurl"
        f"&url=file://{folder}/{made.visit.visit}_{{{{annex_key}}}}&encryption=none'"
    )
