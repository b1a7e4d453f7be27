"""``scandepot retention``: what the staging areas' schedules will delete next, a run now,
and holds (acts as the system, on this site's catalog and files)."""

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
from scandepot.retention import holds, plan, run
from scandepot.retention.holds import HoldIn

app = typer.Typer(
    help="Retention of the staging areas: the plan, a run now, holds.", no_args_is_help=True
)

TIME = "%Y-%m-%d %H:%M UTC"


@app.command("plan")
def show_plan(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """List what will be deleted next, soonest first: when, area, key, size, what, and
    whether it is held or its people were warned."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        entries = plan.plan(ctx, SYSTEM)
    for p in entries:
        state = "held" if p.hold else ("warned" if p.warned_at else "-")
        when = p.delete_at.strftime(TIME)
        size = str(p.item.size)
        typer.echo(
            "\t".join((when, p.item.area.value, p.item.key, size, state, p.item.description))
        )
    if not entries:
        typer.echo("nothing is planned for deletion")


@app.command("run")
def run_now(
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Warn and delete what is due now (as `scandepot serve` does every
    retention_interval_s)."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        done = run.run_once(ctx)
    if done.busy:
        typer.echo("another process is running retention now; nothing done")
        return
    typer.echo(
        f"warned {done.warned}, deleted {done.deleted} ({done.freed} bytes), "
        f"held {done.held}, skipped {done.skipped}, failed {done.failed}"
    )
    if done.failed:
        raise typer.Exit(1)


@app.command("hold")
def hold(
    area: str,
    key: str,
    reason: str = typer.Option("", "--reason", help="Why it is kept (shown in the plan)."),
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Hold an item (its area and key, as the plan lists them): never deleted until released."""
    with valid_input():
        data = HoldIn(area=area, key=key, reason=reason)
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        made = holds.hold(ctx, SYSTEM, data)
    typer.echo(f"held {made.area}:{made.key} (hold {made.id})")


@app.command("release")
def release(
    area: str,
    key: str,
    data_dir: Path | None = DataDirOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Release a held item: its schedule applies again."""
    ctx = existing_context(data_dir, database_url)
    with closing(ctx), service_errors():
        holds.release_item(ctx, SYSTEM, area, key)
    typer.echo(f"released {area}:{key}")
