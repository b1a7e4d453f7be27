"""Bring the catalog schema to the newest version with Alembic (run at every start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from scandepot.db.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key: two processes starting at once migrate one after the other.
_PG_LOCK_KEY = 0x5CA4D390


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(db: Database, revision: str = "head", *, archive: Path | None = None) -> None:
    """Migrate to ``revision``. ``archive`` is the archive folder, for migrations that
    fill a column from the files (0008, the CRC-32s); without it they leave it empty."""
    config = alembic_config()
    config.attributes["archive"] = archive
    engine = db.engine.execution_options(sqlite_begin="IMMEDIATE")
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
