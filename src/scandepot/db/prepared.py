"""Statements compiled once, run on the writer's own cursor: a faster use of the one way
to write (:meth:`scandepot.db.engine.Database.write_connection`), not a second way.

SQLAlchemy's work per execution (compiling from its cache, building the result, the
events) costs several times a small statement itself on SQLite; the DICOM receiver runs a
few such statements for every instance, inside the writer's transaction and its locking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class Prepared:
    """A Core statement compiled for one dialect, with its bind parameters' conversions."""

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, *, as_stored: tuple[str, ...] = ()
    ) -> None:
        """``as_stored`` names parameters passed back as the database returned them, which
        are not converted again."""
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql: str = compiled.string
        positions = compiled.positiontup
        self.order = list(positions) if compiled.positional and positions is not None else None
        self.processors: dict[str, Callable[[Any], Any]] = {}
        self.fixed: dict[str, Any] = {}  # values given in the statement (a LIMIT, a status)
        for name, bind in compiled.binds.items():
            # The dialect's own form of the type: SQLite's TIME converts, plain Time not.
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if not bind.required:
                value = bind.effective_value
                self.fixed[name] = processor(value) if processor is not None else value
            elif processor is not None and name not in as_stored:
                self.processors[name] = processor

    def run(self, cursor: Any, params: dict[str, Any]) -> Any:
        """Execute on ``cursor`` (of :func:`cursor`); returns the DBAPI cursor."""
        params.update(self.fixed)
        for name, processor in self.processors.items():
            params[name] = processor(params[name])
        if self.order is not None:
            return cursor.execute(self.sql, [params[name] for name in self.order])
        return cursor.execute(self.sql, params)


def cursor(connection: Connection) -> Any:
    """A DBAPI cursor of ``connection``, inside its current transaction."""
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver.cursor()
