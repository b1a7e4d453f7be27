"""Migration 0008 adds File.crc32 and fills it from the files already archived, at every
level of the hierarchy; a file it cannot read, or not of the size catalogued, stays NULL.
New files get theirs with their other checksums. (The migration's column changes are
checked by tests/db/test_migrations.py, the schema against the models.)"""

from __future__ import annotations

import importlib.util
import os
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text, update

from scandepot.access.actors import SYSTEM
from scandepot.archive import files, projects, scans, sessions, subjects
from scandepot.archive.projects import ProjectCreate
from scandepot.archive.resources import OwnerRef
from scandepot.archive.scans import ScanCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.archive import File
from scandepot.context import Context
from scandepot.db.engine import Database
from scandepot.db.migrate import MIGRATIONS, upgrade
from scandepot.settings import Settings
from scandepot.storage.store import FileStore
from tests.pg import PG_SERVER


@pytest.fixture
def fresh_ctx(backend: str, tmp_path: Path) -> Iterator[Context]:
    """A catalog of its own (it is migrated down and up), on either backend."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if backend == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'catalog.db'}", None
    else:
        name = f"scandepot_crc_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url, drop = f"{PG_SERVER}/{name}", name
    db = Database(url)
    upgrade(db)
    ctx = Context(Settings(data_dir=data_dir, database_url=url), db, FileStore(data_dir))
    ctx.store.ensure()
    try:
        yield ctx
    finally:
        db.dispose()
        if drop is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))
            admin.dispose()


def _migration() -> Any:
    """Migration 0008's module (its file name is no module name)."""
    path = MIGRATIONS / "versions" / "0008_file_crc32.py"
    spec = importlib.util.spec_from_file_location("migration_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _upload(ctx: Context, ref: OwnerRef, resource: str, path: str, body: bytes) -> None:
    with ctx.store.stage() as staged:
        staged.write(body)
        files.commit_upload(ctx, SYSTEM, ref, resource, path, staged)


def _crcs(ctx: Context) -> dict[str, int | None]:
    with ctx.db.read() as db:
        return {path: crc for path, crc in db.execute(select(File.path, File.crc32))}


def test_new_files_have_their_crc32(fresh_ctx: Context) -> None:
    ctx = fresh_ctx
    projects.create(ctx, SYSTEM, ProjectCreate(id="P1"))
    body = os.urandom(3000)
    _upload(ctx, OwnerRef("P1"), "DOCS", "a.bin", body)
    assert _crcs(ctx) == {"a.bin": zlib.crc32(body)}


def test_the_migration_fills_what_it_can_read(fresh_ctx: Context) -> None:
    ctx = fresh_ctx
    projects.create(ctx, SYSTEM, ProjectCreate(id="P1"))
    subjects.create(ctx, SYSTEM, "P1", SubjectCreate(label="S1"))
    sessions.create(ctx, SYSTEM, "P1", SessionCreate(label="E1", subject="S1"))
    scans.create(ctx, SYSTEM, "P1", "E1", ScanCreate(id="1", type="T1w"))
    bodies = {f"{i:03d}.dcm": os.urandom(1000 + i) for i in range(7)}
    for path, body in bodies.items():
        _upload(ctx, OwnerRef("P1", session="E1", scan="1"), "DICOM", path, body)
    levels = {
        "project.txt": OwnerRef("P1"),
        "subject.txt": OwnerRef("P1", subject="S1"),
        "session.txt": OwnerRef("P1", session="E1"),
    }
    for path, ref in levels.items():
        bodies[path] = path.encode() * 10
        _upload(ctx, ref, "NOTES", path, bodies[path])
    scan_files = ctx.store.archive / "P1/subjects/S1/sessions/E1/scans/1/resources/DICOM/files"
    (scan_files / "001.dcm").unlink()  # cannot be read
    (scan_files / "002.dcm").write_bytes(b"shorter")  # not the size catalogued

    with ctx.db.write() as db:
        db.execute(update(File).values(crc32=None))  # as the files were before 0008
    with ctx.db.engine.begin() as conn:
        _migration().fill(conn, ctx.store.archive)
    expected: dict[str, int | None] = {p: zlib.crc32(b) for p, b in bodies.items()}
    expected["001.dcm"] = expected["002.dcm"] = None
    assert _crcs(ctx) == expected
