"""``scandepot prearchive``: staged sessions from the server's shell (acts as the system)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from scandepot.access.actors import SYSTEM
from scandepot.catalog.paging import MAX_LIMIT, PageRequest
from scandepot.catalog.prearchive import Status
from scandepot.cli.common import (
    DatabaseUrlOption,
    DataDirOption,
    existing_context,
    followed,
)
from scandepot.context import Context
from scandepot.prearchive import operations
from scandepot.prearchive.operations import Relabel, StagedView

app = typer.Typer(help="Staged sessions in the prearchive.", no_args_is_help=True)
T = TypeVar("T")


def _run(data_dir: Path | None, database_url: str | None, work: Callable[[Context], T]) -> T:
    with followed(existing_context(data_dir, database_url)) as ctx:
        return work(ctx)


def _line(view: StagedView) -> str:
    s = view.staged
    # A label no routing rule gave is shown as such, never as Python's None.
    subject, session = s.subject or "(no subject)", s.session or "(no session)"
    return (
        f"{s.id}\t{s.status}\t{s.project_key or '(unassigned)'}\t{subject}\t{session}\t"
        f"{len(s.scans)} scans\t{view.files} files\t{s.StudyInstanceUID}"
    )


def _show(view: StagedView) -> None:
    s = view.staged
    typer.echo(_line(view))
    for scan in s.scans:
        left_out = "  (left out)" if scan.get("excluded") else ""
        typer.echo(
            f"  scan {scan['id']}: {scan.get('SeriesDescription') or ''} "
            f"[{scan.get('Modality') or ''}] {scan['files']} files{left_out}"
        )
    typer.echo(f"  routing: {json.dumps(s.routing)}")
    for problem in s.problems:
        typer.echo(f"  problem: {problem}")


@app.command("list")
def list_staged(
    project: str | None = typer.Option(None, "--project", help="A project ID, or 'unassigned'."),
    status: Status | None = typer.Option(None, "--status"),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List staged sessions: ID, status, project, subject, session, scans, files, study."""
    page = _run(
        data_dir,
        database_url,
        lambda ctx: operations.list_staged(
            ctx, SYSTEM, PageRequest(limit=MAX_LIMIT), project=project, status=status
        ),
    )
    for view in page.items:
        typer.echo(_line(view))


@app.command("show")
def show(
    staged_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Show a staged session: its scans, routing values and problems."""
    _show(_run(data_dir, database_url, lambda ctx: operations.get(ctx, SYSTEM, staged_id)))


@app.command("relabel")
def relabel(
    staged_id: int,
    project: str | None = typer.Option(None, "--project", help="Move to this project."),
    subject: str | None = typer.Option(None, "--subject"),
    session: str | None = typer.Option(None, "--session"),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Relabel the subject or session, or move to another project; the session is rebuilt."""
    data = Relabel(project=project, subject=subject, session=session)
    _show(
        _run(data_dir, database_url, lambda ctx: operations.relabel(ctx, SYSTEM, staged_id, data))
    )


@app.command("rebuild")
def rebuild(
    staged_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Build a staged session again (after a project's settings changed, say)."""
    _show(_run(data_dir, database_url, lambda ctx: operations.rebuild(ctx, SYSTEM, staged_id)))


@app.command("archive")
def archive(
    staged_id: int,
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace archived files that differ."
    ),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Archive a staged session into its project."""
    done = _run(
        data_dir,
        database_url,
        lambda ctx: operations.archive(ctx, SYSTEM, staged_id, overwrite=overwrite),
    )
    typer.echo(
        f"archived {done.files} files into {done.project}/{done.subject}/{done.session}"
        f"{' (merged)' if done.merged else ''}; scans {', '.join(done.scans) or '-'}"
    )
    for name in done.replaced:
        typer.echo(f"  replaced {name}")
    for name in done.kept:
        typer.echo(f"  kept the archived {name} (differs; use --overwrite to replace)")
    for scan in done.left_out:
        typer.echo(f"  left out scan {scan} (series filter)")


@app.command("delete")
def delete(
    staged_id: int,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Delete a staged session and its files."""
    _run(data_dir, database_url, lambda ctx: operations.delete(ctx, SYSTEM, staged_id))
    typer.echo(f"deleted staged session {staged_id}")
