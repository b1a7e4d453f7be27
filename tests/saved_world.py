"""A test world (the access matrix's, the downloads' project, the datasets' cohort) built
once per test process and catalog, saved, and put back for each later test that needs
it, in a few milliseconds instead of a build's quarter second on SQLite and most of a
second on PostgreSQL (seconds where the build writes files through the API).

SQLite: a copy of the catalog file by SQLite's backup API. PostgreSQL: a copy of every
table in a schema of its own in the same database, put back in dependency order after the
rows there are removed, and each table's ID sequence set past its rows, all in one round
trip (rows fetched into Python and inserted back took half a second a test). Both: a copy
of the data folder.

What is put back is the whole catalog: whatever a write made anywhere (an account, a
token, a project) goes with it, which is what a fresh world means."""

from __future__ import annotations

import atexit
import hashlib
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scandepot.catalog.schema import metadata
from scandepot.context import Context


@dataclass
class Saved:
    folder: Path  # the data folder's copy, and on SQLite the catalog's
    schema: str = ""  # PostgreSQL: where the tables' copies are


_saved: dict[str, Saved] = {}
_root: list[Path] = []
_values: dict[str, Any] = {}
T = TypeVar("T")


def _sqlite_file(ctx: Context) -> Path | None:
    url = ctx.settings.database_url or ""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _key(ctx: Context, name: str) -> str:
    """``name`` on this catalog: a test process may have more than one of a kind (the
    scaled-out deployment's, tests/served_deployment.py)."""
    url = (ctx.settings.database_url or "").encode()
    kind = "sqlite" if ctx.db.is_sqlite else "pg"
    return f"{kind}_{hashlib.sha1(url).hexdigest()[:8]}-{name}"


def _copy(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def save(ctx: Context, name: str) -> None:
    """Keep the world as it now is under ``name``."""
    if not _root:
        _root.append(Path(tempfile.mkdtemp(prefix="sd-world-")))
        atexit.register(shutil.rmtree, _root[0], True)
    key = _key(ctx, name)
    folder = _root[0] / key
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ctx.settings.data_dir, folder / "data", symlinks=True)
    saved = Saved(folder)
    catalog = _sqlite_file(ctx)
    if catalog is not None:
        _copy(catalog, folder / "catalog.db")
    else:
        saved.schema = f"saved_{key.replace('-', '_')}"
        statements = [f'DROP SCHEMA IF EXISTS "{saved.schema}" CASCADE']
        statements.append(f'CREATE SCHEMA "{saved.schema}"')
        statements += [
            f'CREATE TABLE "{saved.schema}"."{table.name}" AS SELECT * FROM "{table.name}"'
            for table in metadata.sorted_tables
        ]
        with ctx.db.write_connection() as conn:
            conn.exec_driver_sql("; ".join(statements))
    _saved[key] = saved


def restore(ctx: Context, name: str) -> bool:
    """Put back the world saved under ``name``; False when there is none."""
    saved = _saved.get(_key(ctx, name))
    if saved is None:
        return False
    catalog = _sqlite_file(ctx)
    if catalog is not None:
        _copy(saved.folder / "catalog.db", catalog)
    else:
        _put_rows(ctx, saved.schema)
    data = ctx.settings.data_dir
    for child in data.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    shutil.copytree(saved.folder / "data", data, symlinks=True, dirs_exist_ok=True)
    return True


def kept(ctx: Context, name: str, build: Callable[[], T]) -> T:
    """The world ``name``: put back with what ``build`` returned when it was first built
    in this process on this catalog, else built now and saved. For worlds that a test
    may change but that no test needs built differently."""
    key = _key(ctx, name)
    if key in _values and restore(ctx, name):
        return _values[key]  # type: ignore[no-any-return]
    value = build()
    save(ctx, name)
    _values[key] = value
    return value


def _put_rows(ctx: Context, schema: str) -> None:
    statements = [f'DELETE FROM "{table.name}"' for table in reversed(metadata.sorted_tables)]
    for table in metadata.sorted_tables:
        # The copy's columns are the table's, in its order (CREATE TABLE AS SELECT *).
        statements.append(f'INSERT INTO "{table.name}" SELECT * FROM "{schema}"."{table.name}"')
        if "id" in table.c and table.c.id.autoincrement is not False:
            statements.append(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
            )
    with ctx.db.write_connection() as conn:
        conn.exec_driver_sql("; ".join(statements))
