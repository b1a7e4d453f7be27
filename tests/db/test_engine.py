"""The SQLite writer: one kept connection, BEGIN IMMEDIATE on the driver's connection."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from scandepot.db.engine import Database


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'catalog.db'}")
    with database.write_connection() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER UNIQUE)")
    return database


def values(db: Database) -> list[int]:
    with db.write_connection() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT x FROM t ORDER BY x")]


def test_a_failed_write_is_rolled_back_and_the_next_one_works(db: Database) -> None:
    with db.write_connection() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    with pytest.raises(IntegrityError), db.write_connection() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    with db.write_connection() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (3)")
    assert values(db) == [1, 3]


def test_an_invalidated_connection_is_replaced(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write_connection() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        conn.invalidate()
        raise RuntimeError("the connection broke")
    with db.write_connection() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    assert values(db) == [2]
    db.dispose()
    assert values(db) == [2]  # a new connection after dispose


def test_writes_take_the_database_lock_at_begin(db: Database, tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: while a write transaction is open, another process's writer
    cannot start one (it would otherwise fail half-way with "database is locked")."""
    inside, release = threading.Event(), threading.Event()

    def writer() -> None:
        with db.write_connection() as conn:
            conn.exec_driver_sql("SELECT 1")  # reads only: a deferred BEGIN takes no lock
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(10)
        other = sqlite3.connect(tmp_path / "catalog.db", timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    finally:
        release.set()
        thread.join()
