"""Engines and units of work.

Reads run concurrently. Writes go through one writer (:meth:`Database.write_connection`,
and :meth:`Database.write`, the ORM over it): on SQLite one writer at
a time (a process-wide lock, then ``BEGIN IMMEDIATE`` so that writers in other processes
queue on the database lock instead of failing half-way with "database is locked"); on
PostgreSQL writers run side by side and take row locks where they need them.

A PostgreSQL server that is gone (stopped, restarting, the network cut) is
:class:`~scandepot.errors.Unavailable` to the caller, whichever unit of work met it; the
pool tests a connection before lending it when it has been idle for a second or more (a
round trip, as ``pool_pre_ping`` makes before every loan), so that the first unit of work
after the server is back gets a new connection instead of a dead one. One given back
less than a second ago is lent as it is: the DICOM receiver takes a connection for every
instance, where the test was one round trip in six. A connection that died within that
second fails its unit of work as any connection the server drops under a unit of work
does (Unavailable), and is replaced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from scandepot.errors import OutOfSpace, Unavailable

SQLITE_BUSY_TIMEOUT_MS = 60_000


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_when_idle(self.engine)
        self._write_lock = threading.Lock()
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._writer = sessionmaker(expire_on_commit=False)
        self._write_connection: Connection | None = None  # see write_connection
        self._write_used = 0.0  # when the kept connection's last transaction ended
        # The driver's own OperationalError: the receiver's raw statements raise it as is.
        self._driver_operational: type[Exception] = (
            self.engine.dialect.loaded_dbapi.OperationalError
        )
        self._driver_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit of work that is never committed. Objects loaded in it stay readable after
        the block (closing detaches them; the pool rolls the connection back)."""
        with self._reader() as session, self._server_conditions():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work committed at the end of the block, rolled back on any error: the
        ORM's face of :meth:`write_connection`, on the same writer."""
        with self._server_conditions(), self._writer_connection() as connection:
            with self._writer(bind=connection) as session, session.begin():
                yield session

    @contextmanager
    def write_connection(self, *, kept: bool = False) -> Iterator[Connection]:
        """The one way to write: a transaction on the writer's connection, committed at the
        end of the block. :meth:`write` runs an ORM session on it; the receiver's hot path
        runs statements compiled once (:mod:`scandepot.db.prepared`) on its cursor.

        ``kept``: on PostgreSQL too, the one connection kept between transactions (as
        every writer has on SQLite), for a caller that runs its transactions one at a time
        and many of them, the receiver's group commit: taking a connection from the pool
        and giving it back costs more than most statements. Such callers take turns on it;
        other writers go on side by side with their own."""
        with self._server_conditions(), self._writer_connection(kept) as connection:
            with connection.begin():
                yield connection

    @contextmanager
    def _writer_connection(self, kept: bool = False) -> Iterator[Connection]:
        if not self.is_sqlite and not kept:  # writers run side by side, taking row locks
            with self._write_engine.connect() as connection:
                yield connection
            return
        # SQLite has one writer at a time, so one connection, kept, serves them all: a
        # connection taken from the pool and given back costs more than most statements.
        with self._write_lock:
            writer = self._write_connection
            if writer is not None and not self.is_sqlite:
                writer = self._alive(writer)
            if writer is None or writer.closed or writer.invalidated:
                writer = self._write_connection = self._write_engine.connect()
            try:
                yield writer
            finally:
                _end_transaction(writer)
                self._write_used = time.monotonic()

    def _alive(self, kept: Connection) -> Connection | None:
        """The kept PostgreSQL connection, tested first when it has been idle as long as
        the pool tests its own (:data:`PING_IDLE_S`); None when it is dead."""
        if time.monotonic() - self._write_used < PING_IDLE_S or kept.invalidated or kept.closed:
            return kept
        driver = kept.connection.dbapi_connection
        try:
            if driver is None:
                raise self._driver_error("no connection")
            self.engine.dialect.do_ping(driver)
        except self._driver_error:
            kept.invalidate()
            kept.close()
            return None
        return kept

    @contextmanager
    def _server_conditions(self) -> Iterator[None]:
        """The database's own conditions, which are not the caller's doing, as the domain
        errors that say so: its disk full, its server unreachable."""
        try:
            yield
        except Exception as exc:
            if _is_full(exc):
                raise OutOfSpace(
                    "The server is out of storage space for its catalog; nothing was stored. "
                    "The same request will succeed once space is freed."
                ) from exc
            if not self.is_sqlite and _is_unreachable(exc, self._driver_operational):
                raise Unavailable(
                    "The catalog database cannot be reached; nothing was changed. "
                    "Try again shortly."
                ) from exc
            raise

    def dispose(self) -> None:
        with self._write_lock:
            if self._write_connection is not None:
                self._write_connection.close()
                self._write_connection = None
        self.engine.dispose()


def _end_transaction(kept: Connection) -> None:
    """Leave the kept connection with no transaction open, whatever ended the last one (a
    commit that failed may leave SQLite's transaction open under SQLAlchemy's feet); when
    that cannot be made sure, it is dropped and the next writer connects afresh."""
    try:
        if kept.in_transaction():
            kept.rollback()
        driver = kept.connection.driver_connection
        # sqlite3 says whether a transaction is open; psycopg's rollback finds out itself
        # (no round trip when none is)
        if driver is not None and getattr(driver, "in_transaction", True):
            driver.rollback()
    except Exception:
        kept.invalidate()


# SQLITE_FULL (https://sqlite.org/rescode.html#full) and PostgreSQL's disk_full (53100):
# the catalog's disk is full, which is the server's condition, not the request's fault.
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"


def _is_full(exc: BaseException) -> bool:
    """Whether the driver said the disk is full, here or in what led to ``exc`` (the
    receiver's raw statements raise the driver's own errors, and SQLite may roll the
    whole transaction back on SQLITE_FULL, so that a savepoint's rollback fails after)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        error = current.orig if isinstance(current, DBAPIError) else current
        if getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL:
            return True
        if getattr(error, "sqlstate", None) == _PG_DISK_FULL:
            return True
        current = current.__cause__ or current.__context__
    return False


# PostgreSQL's connection exceptions (class 08) and its shutdowns (57P01 admin shutdown,
# 57P02 crash shutdown, 57P03 cannot connect now: starting up or shutting down).
_PG_GONE_CLASS = "08"
_PG_GONE = frozenset({"57P01", "57P02", "57P03"})


def _is_unreachable(exc: BaseException, driver_operational: type[Exception]) -> bool:
    """Whether ``exc``, or what led to it, says the database server is gone rather than
    that a statement failed: a connection found dead (SQLAlchemy invalidates it), a
    connection refused or cut (the driver gives no SQLSTATE then), or the server's word
    that it is shutting down or starting up."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        error = current.orig if isinstance(current, DBAPIError) else current
        if isinstance(error, driver_operational):
            state = getattr(error, "sqlstate", None)
            if state is None or state.startswith(_PG_GONE_CLASS) or state in _PG_GONE:
                return True
        current = current.__cause__ or current.__context__
    return False


PING_IDLE_S = 1.0  # a pooled connection idle this long is tested before it is lent


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, for connections idle for :data:`PING_IDLE_S` or more: a dead one
    is replaced (the pool connects afresh when a checkout raises DisconnectionError)."""
    dialect = engine.dialect
    driver_error: type[Exception] = dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def _given_back(_dbapi_connection: Any, record: Any) -> None:
        record.info["given_back"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _lent(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        given_back = record.info.get("given_back")
        if given_back is not None and time.monotonic() - given_back < PING_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except driver_error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):  # type: ignore[arg-type]
                raise DisconnectionError(str(exc)) from exc
            raise


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot issue BEGIN IMMEDIATE;
    # take it over (the recipe from SQLAlchemy's SQLite dialect documentation).
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed transaction survives power loss; what we acknowledge is kept.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        # On the driver's connection: a statement through SQLAlchemy's execution path
        # costs more than the BEGIN itself, on every write transaction.
        connection.connection.driver_connection.execute(f"BEGIN {mode}")
