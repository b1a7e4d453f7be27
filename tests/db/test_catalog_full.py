"""A catalog whose disk is full answers as the file store's does: 507 (0xA700 to a DICOM
sender), nothing kept, and the same request succeeds once there is room again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pynetdicom import AE
from pynetdicom.sop_class import MRImageStorage
from sqlalchemy import event, func, select, text

from scandepot.app import create_app
from scandepot.catalog.access import User
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.db.engine import Database
from scandepot.db.migrate import upgrade
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.dimse import DimseSettings, Receiver
from scandepot.errors import OutOfSpace
from scandepot.settings import Settings
from scandepot.storage.store import FileStore
from tests.conftest import PASSWORD
from tests.helpers import write_study
from tests.ingest.test_upload import zip_dir

ROOM = {"pages": 0}  # 0: no limit; otherwise the catalog may grow to this many pages


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Context]:
    """The test's context on a SQLite catalog of its own, whose size can be capped
    (SQLite's max_page_count makes it answer SQLITE_FULL, as a full disk does)."""
    db = Database(f"sqlite:///{tmp_path / 'small.db'}")
    upgrade(db)

    @event.listens_for(db.engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        if ROOM["pages"]:  # noqa: SIM102
            dbapi_connection.execute(f"PRAGMA max_page_count = {ROOM['pages']}")

    data = tmp_path / "data"
    settings = Settings(data_dir=data, database_url=db.url, admin_password=PASSWORD)
    own = Context(settings, db, FileStore(data))
    own.store.ensure()
    yield own
    ROOM["pages"] = 0
    db.dispose()


def fill(ctx: Context) -> None:
    """Cap the catalog at the size it has now and fill its free pages: the next write
    that needs room fails."""
    with ctx.db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (x BLOB)"))
        ROOM["pages"] = int(conn.execute(text("PRAGMA page_count")).scalar_one())
    ctx.db.engine.dispose()  # new connections take the cap
    ctx.db.dispose()
    for size in (4000, 200, 20, 1):  # down to the last bytes of the last page
        with pytest.raises(OutOfSpace):
            for _ in range(100_000):
                with ctx.db.write() as db:
                    db.execute(text(f"INSERT INTO filler VALUES (zeroblob({size}))"))


def test_a_write_to_a_full_catalog_is_out_of_space(small: Context) -> None:
    fill(small)
    with pytest.raises(OutOfSpace, match="out of storage space for its catalog"):
        with small.db.write() as db:
            db.execute(text("INSERT INTO filler VALUES (zeroblob(1000000))"))


def test_an_import_into_a_full_catalog_is_507_and_keeps_nothing(
    small: Context, tmp_path: Path, password_hash: str
) -> None:
    from scandepot.access.actors import SYSTEM
    from scandepot.archive import projects
    from scandepot.archive.projects import ProjectCreate

    projects.create(small, SYSTEM, ProjectCreate(id="FULL"))
    with small.db.write() as db:
        db.add(
            User(
                login="admin",
                full_name="Admin",
                email="a@example.org",
                password_hash=password_hash,
                is_site_admin=True,
            )
        )
    write_study(tmp_path / "in", Study(), [Series(1, "T1w")], per_series=40)
    body = zip_dir(tmp_path / "in", tmp_path / "up.zip")
    fill(small)
    with TestClient(create_app(ctx=small)) as client:
        r = client.post(
            "/api/v1/projects/FULL/import", content=body, auth=("admin", "correct-horse-battery")
        )
    assert r.status_code == 507, r.text
    assert "out of storage space" in r.json()["error"]["message"]
    ROOM["pages"] = 0
    small.db.engine.dispose()
    small.db.dispose()
    with small.db.read() as db:
        assert db.scalar(select(func.count()).select_from(Instance)) == 0
    assert [p for p in small.store.tmp.iterdir() if p.is_file()] == []


def test_a_dicom_sender_is_told_to_try_again_later(small: Context, tmp_path: Path) -> None:
    """The disk fills during a transfer: instances are stored until the catalog needs a
    page it cannot have, and that one is answered 0xA700 (out of resources: senders try
    again), never 0xC000 (which they take as final)."""
    settings = DimseSettings.from_context(small)
    settings.port = 0
    receiver = Receiver(small, settings).start()
    statuses: list[int] = []
    try:
        fill(small)
        ae = AE(ae_title="SCANNER")
        ae.add_requested_context(MRImageStorage)
        assoc = ae.associate("127.0.0.1", receiver.port, ae_title="SCANDEPOT")
        assert assoc.is_established
        study, series = Study(), Series()
        for n in range(1, 2000):
            status = assoc.send_c_store(mr_instance(study, series, n, rows=8, columns=8))
            statuses.append(int(status.Status))
            if status.Status != 0:
                break
        assoc.release()
    finally:
        receiver.stop()
    assert statuses[-1] == 0xA700, statuses[-5:]
    assert set(statuses[:-1]) <= {0x0000}
