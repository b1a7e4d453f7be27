"""Times as UTC text made by the database, for listings that print thousands of them.

Reading a time column makes a Python datetime of every value (parsed from text on
SQLite); a listing that only prints them can have the database write the text instead:
``utc_text(Session.created_at)`` is ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC on SQLite (what
:class:`scandepot.db.base.UTCDateTime` stores there) and on PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class utc_text(FunctionElement[str]):  # noqa: N801 (an SQL function, named as one)
    type = String()
    inherit_cache = True
    name = "utc_text"


@compiles(utc_text, "sqlite")
def _sqlite(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    # UTCDateTime stores naive UTC text with microseconds: the column is the text.
    return compiler.process(element.clauses, **kw)


@compiles(utc_text, "postgresql")
def _postgresql(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
