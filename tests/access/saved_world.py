"""The access matrix's world, built once per test process and accessibility on SQLite,
saved, and put back for each later test that needs it: a copy of the catalog (SQLite's
backup API) and of the data folder, in a few milliseconds instead of the build's quarter
second. Writes run on SQLite alone (test_matrix.on_catalogs), and each needs the world
again for every actor, so this is most of what the matrix spends.

What is put back is the whole catalog: whatever a write made anywhere (an account, a
token, a project) goes with it, which is what a fresh world means."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from scandepot.context import Context

_saved: dict[str, Path] = {}
_root: list[Path] = []


def _catalog(ctx: Context) -> Path | None:
    url = ctx.settings.database_url or ""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def _copy(source: Path, target: Path) -> None:
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def save(ctx: Context, key: str) -> None:
    """Keep the world as it now is under ``key`` (SQLite only; elsewhere nothing)."""
    catalog = _catalog(ctx)
    if catalog is None:
        return
    if not _root:
        _root.append(Path(tempfile.mkdtemp(prefix="sd-world-")))
    folder = _root[0] / key
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ctx.settings.data_dir, folder / "data", symlinks=True)
    _copy(catalog, folder / "catalog.db")
    _saved[key] = folder


def restore(ctx: Context, key: str) -> bool:
    """Put back the world saved under ``key``; False when there is none (or not SQLite)."""
    catalog, folder = _catalog(ctx), _saved.get(key)
    if catalog is None or folder is None:
        return False
    _copy(folder / "catalog.db", catalog)
    data = ctx.settings.data_dir
    for child in data.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    shutil.copytree(folder / "data", data, symlinks=True, dirs_exist_ok=True)
    return True
