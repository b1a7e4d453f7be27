"""What every command needs: settings from options and environment, a ready context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from scandepot.context import Context
from scandepot.db.migrate import current_revision, head_revision, upgrade
from scandepot.errors import ScandepotError
from scandepot.settings import Settings, SettingsFileError

DataDirOption = typer.Option(
    None, "--data-dir", help="Data folder (env SCANDEPOT_DATA_DIR).", show_default=False
)
DatabaseUrlOption = typer.Option(
    None, "--database-url", help="Catalog database URL (env SCANDEPOT_DATABASE_URL)."
)


def load_settings(**overrides: Any) -> Settings:
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except SettingsFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        for error in exc.errors():
            key = "_".join(str(p) for p in error["loc"])
            typer.echo(f"error: setting {key} (SCANDEPOT_{key.upper()}): {error['msg']}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def service_errors() -> Iterator[None]:
    """Domain errors become one line on stderr, ``error: ...``, and exit code 1."""
    try:
        yield
    except ScandepotError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None


@contextmanager
def valid_input() -> Iterator[None]:
    """Input a command's options make that breaks a rule: one ``error: field: why`` line
    on stderr for each broken rule, and exit code 1."""
    try:
        yield
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {'.'.join(map(str, error['loc']))}: {error['msg']}", err=True)
        raise typer.Exit(1) from None


def existing_context(data_dir: Any, database_url: str | None, **settings: Any) -> Context:
    """The context of the data folder and catalog the options (or the environment) name,
    which must exist and be up to date."""
    return open_existing(load_settings(data_dir=data_dir, database_url=database_url, **settings))


def open_existing(settings: Settings) -> Context:
    """A context on a data folder and catalog that must already exist and be up to date."""
    if not settings.data_dir.is_dir():
        typer.echo(f"error: no data folder at {settings.data_dir.resolve()}", err=True)
        raise typer.Exit(2)
    ctx = Context.from_settings(settings)
    try:
        revision = current_revision(ctx.db)
    except SQLAlchemyError as exc:
        ctx.close()
        typer.echo(f"error: cannot open the catalog: {exc}", err=True)
        raise typer.Exit(2) from None
    if revision != head_revision():
        ctx.close()
        typer.echo(
            f"error: the catalog is at revision {revision}, not {head_revision()}; "
            "run `scandepot migrate` first.",
            err=True,
        )
        raise typer.Exit(2)
    return ctx


@contextmanager
def followed(ctx: Context) -> Iterator[Context]:
    """For a command whose work publishes events (an archive queues its pipeline jobs):
    ``ctx`` follows them as every process does (scandepot/processes.py), and the command
    waits for the work they started before the context is closed."""
    from scandepot import processes

    following = processes.follow(ctx)
    try:
        with service_errors():
            yield ctx
    finally:
        following.wait()
        following.stop()
        ctx.close()


def open_context(settings: Settings, *, migrate: bool = True) -> Context:
    """Create the data folder and file store, bring the schema up to date."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context.from_settings(settings)
    ctx.store.ensure()
    if migrate:
        upgrade(ctx.db, archive=ctx.store.archive)
    return ctx
