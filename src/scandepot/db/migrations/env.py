"""Alembic environment: always run with a connection handed over by scandepot.db.migrate."""

from __future__ import annotations

from alembic import context

from scandepot.catalog.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `scandepot migrate`, not the alembic command.")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
