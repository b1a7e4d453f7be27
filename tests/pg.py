"""PostgreSQL databases of the tests' own, made on the shared server and dropped after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

PG_SERVER = os.environ.get("SCANDEPOT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


@contextmanager
def fresh_database(
    prefix: str = "scandepot_test", server: str = PG_SERVER, *, durable: bool = True
) -> Iterator[str]:
    """The URL of a new, empty database on ``server`` (a URL without database name),
    dropped on the way out; ``durable=False``: its commits do not wait for the disk (a
    test database outlives no crash). A server that cannot be reached fails the test."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    # No pool: a connection kept from the creation would be gone after a restart.
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            if not durable:
                conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.fail(f"PostgreSQL at {server} is needed and cannot be reached: {exc}")
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
