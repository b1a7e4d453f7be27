"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scandepot.context import Context
from scandepot.db.migrate import current_revision, head_revision, upgrade
from scandepot.db.schema import metadata


def test_migrated_schema_matches_the_models(ctx: Context) -> None:
    assert current_revision(ctx.db) == head_revision()
    with ctx.db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []


def test_upgrade_is_idempotent(ctx: Context) -> None:
    upgrade(ctx.db)
    upgrade(ctx.db)
    assert current_revision(ctx.db) == head_revision()
