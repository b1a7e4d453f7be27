"""A PostgreSQL server that is gone is the caller's :class:`Unavailable` (HTTP 503), in
reads and writes alike, and the next unit of work after it is back gets a live
connection: nothing in the process needs a restart."""

from __future__ import annotations

import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from scandepot.db import engine
from scandepot.db.engine import PING_IDLE_S, Database
from scandepot.errors import Unavailable
from scandepot.http import errors as http_errors
from tests.pg import PG_SERVER
from tests.serve_process import free_port

pytestmark = pytest.mark.postgresql


def test_a_server_that_refuses_connections_is_unavailable() -> None:
    db = Database(f"{PG_SERVER.rsplit(':', 1)[0]}:{free_port()}/nowhere")
    try:
        with pytest.raises(Unavailable, match="catalog database cannot be reached"):
            with db.read() as session:
                session.execute(text("SELECT 1"))
        with pytest.raises(Unavailable):
            with db.write() as session:
                session.execute(text("SELECT 1"))
        with pytest.raises(Unavailable):
            with db.write_connection() as connection:
                connection.execute(text("SELECT 1"))
    finally:
        db.dispose()


def _terminate(pid: int) -> None:
    admin = create_engine(f"{PG_SERVER}/postgres", poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_a_connection_cut_mid_work_is_unavailable_and_the_next_work_reconnects(
    pg_url: str,
) -> None:
    db = Database(pg_url)
    try:
        with pytest.raises(Unavailable):
            with db.write() as session:
                _terminate(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                session.execute(text("SELECT 1"))
        # The pool kept others of the same age: each idle for a second is tested before
        # it is lent, and replaced.
        with db.read() as first, db.read() as second:
            backend = text("SELECT pg_backend_pid()")
            pids = [s.execute(backend).scalar_one() for s in (first, second)]
        for pid in pids:
            _terminate(pid)
        time.sleep(PING_IDLE_S)
        with db.read() as session:
            assert session.execute(text("SELECT 1")).scalar_one() == 1
        with db.write() as session:
            assert session.execute(text("SELECT 2")).scalar_one() == 2
    finally:
        db.dispose()


def test_a_connection_given_back_a_moment_ago_is_lent_untested(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One given back less than a second ago is lent without a round trip: if it died
    meanwhile, that unit of work is Unavailable, and the next one gets a new one."""
    monkeypatch.setattr(engine, "PING_IDLE_S", 60.0)  # "a moment" however busy the machine
    db = Database(pg_url)
    try:
        backend = text("SELECT pg_backend_pid()")
        with db.read() as session:
            pid = session.execute(backend).scalar_one()
        _terminate(pid)
        with pytest.raises(Unavailable):
            with db.read() as session:
                session.execute(backend)
        with db.read() as session:
            assert session.execute(backend).scalar_one() != pid
    finally:
        db.dispose()


def test_unavailable_is_a_503_that_says_when_to_try_again() -> None:
    app = FastAPI()
    http_errors.install(app)

    @app.get("/x")
    def gone() -> None:
        raise Unavailable("The catalog database cannot be reached; nothing was changed.")

    r = TestClient(app).get("/x")
    assert r.status_code == 503
    assert r.headers["retry-after"] == str(http_errors.RETRY_UNAVAILABLE_S)
    assert r.json()["error"] == {
        "code": "unavailable",
        "message": "The catalog database cannot be reached; nothing was changed.",
        "field": None,
    }


def test_the_kept_writer_is_one_connection_tested_when_idle(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer kept for the receiver's group commit is one connection across
    transactions; idle for a second, it is tested first and replaced when dead."""
    db = Database(pg_url)
    backend = text("SELECT pg_backend_pid()")
    try:
        with db.write_connection(kept=True) as connection:
            pid = connection.execute(backend).scalar_one()
        with db.write_connection(kept=True) as connection:
            assert connection.execute(backend).scalar_one() == pid
        with db.write_connection() as connection:  # other writers: their own
            assert connection.execute(backend).scalar_one() != pid
        _terminate(pid)
        monkeypatch.setattr(engine, "PING_IDLE_S", 0.0)  # idle long enough, however quick
        with db.write_connection(kept=True) as connection:
            assert connection.execute(backend).scalar_one() != pid
    finally:
        db.dispose()
