"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects, sessions, subjects
from scandepot.archive.projects import ProjectCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.schema import metadata
from scandepot.context import Context
from scandepot.db.engine import Database
from scandepot.db.migrate import alembic_config, current_revision, head_revision, upgrade
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive


def test_migrated_schema_matches_the_models(ctx: Context) -> None:
    assert current_revision(ctx.db) == head_revision()
    with ctx.db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []


def test_upgrade_is_idempotent(ctx: Context) -> None:
    upgrade(ctx.db)
    upgrade(ctx.db)
    assert current_revision(ctx.db) == head_revision()


def test_down_to_0004_and_up_again_keeps_the_catalog(ctx: Context, tmp_path: Path) -> None:
    """Going back to the schema of 0004 (a rollback of an upgrade) and up again drops and
    adds columns and nothing else: on SQLite a batch rebuild of a table would drop it,
    and with foreign keys on that cascades into every row that refers to it."""
    db = Database(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(db)
    own = Context(ctx.settings, db, ctx.store)
    projects.create(own, SYSTEM, ProjectCreate(id="P1"))
    subjects.create(own, SYSTEM, "P1", SubjectCreate(label="S1"))
    sessions.create(own, SYSTEM, "P1", SessionCreate(label="E1", subject="S1"))
    staged = own.store.stage()
    staged.write(to_bytes(mr_instance(Study(), Series(), 1, rows=8, columns=8)))
    receive(own, staged, Source("upload", project="P1"))
    staged.discard()
    before = _counts(db)
    assert set(before.values()) == {1}
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert current_revision(db) == "0004"
    assert _counts(db) == before
    upgrade(db)
    assert current_revision(db) == head_revision() and _counts(db) == before
    db.dispose()


def _counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {
            table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in ("project", "subject", "session", "prearchive_session", "dicom_instance")
        }
