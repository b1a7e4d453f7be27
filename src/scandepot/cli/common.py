"""What every command needs: settings from options and environment, a ready context."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError

from scandepot.context import Context
from scandepot.db.migrate import upgrade
from scandepot.settings import Settings

DataDirOption = typer.Option(
    None, "--data-dir", help="Data folder [env: SCANDEPOT_DATA_DIR]", show_default=False
)
DatabaseUrlOption = typer.Option(
    None, "--database-url", help="Catalog database URL [env: SCANDEPOT_DATABASE_URL]"
)


def load_settings(**overrides: Any) -> Settings:
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        for error in exc.errors():
            name = "SCANDEPOT_" + "_".join(str(p) for p in error["loc"]).upper()
            typer.echo(f"error: {name}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def open_context(settings: Settings, *, migrate: bool = True) -> Context:
    """Create the data folder and file store, bring the schema up to date."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context.from_settings(settings)
    ctx.store.ensure()
    if migrate:
        upgrade(ctx.db)
    return ctx
