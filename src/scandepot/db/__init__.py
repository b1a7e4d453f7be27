"""The catalog database: engine, sessions, schema base and migrations."""

from scandepot.db.base import Base
from scandepot.db.engine import Database

__all__ = ["Base", "Database"]
