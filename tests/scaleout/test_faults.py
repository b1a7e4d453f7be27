"""The faults a scaled-out deployment must survive, each made for real: a receiver
SIGKILLed mid-ingest, a worker SIGKILLed mid-job, the database restarted under load, and
archivers racing for one session. Each uses the fewest processes that show it."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import File, Session
from scandepot.catalog.archive import UploadDestination as Destination
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.errors import ScandepotError
from scandepot.events import SessionArchived
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import operations, worker
from tests.scaleout.common import PROJECT, duplicated_instances, make_project

pytestmark = pytest.mark.postgresql


def scandepot_check(ctx: Context) -> tuple[int, dict[str, Any]]:
    """`scandepot check --json` on ``ctx``'s catalog and data folder."""
    assert ctx.settings.database_url is not None
    env = {
        "SCANDEPOT_DATA_DIR": str(ctx.settings.data_dir),
        "SCANDEPOT_DATABASE_URL": ctx.settings.database_url,
    }
    result = CliRunner().invoke(cli, ["check", "--json"], env=env)
    return result.exit_code, json.loads(result.stdout)


def stage(ctx: Context, study: Study, instances: int) -> None:
    """One study received as a scanner's would be, into the project's prearchive."""
    series = Series()
    source = Source("dicom", called_ae=PROJECT, calling_ae="SCANNER1", default_project=PROJECT)
    for n in range(1, instances + 1):
        buffer = io.BytesIO()
        mr_instance(study, series, n, rows=32, columns=32).save_as(buffer, enforce_file_format=True)
        with ctx.store.stage() as staged:
            staged.write(buffer.getvalue())
            receive(ctx, staged, source)


# Who races for each session: the builders of two processes (each would claim the quiet
# session and archive it, the project archiving what arrives) and an owner's archive
# request in a third; or two archive requests (two owners, through two web servers) for a
# session built and waiting in the prearchive.
RACES = {"two builders and a request": ("build", "build", "ask"), "two requests": ("ask", "ask")}


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("race", RACES)
def test_archivers_racing_for_one_session_archive_it_once(ctx: Context, race: str) -> None:
    """Each racer has its own catalog connections, as separate processes have, and
    starts at the same moment as the others."""
    racers = RACES[race]
    ctx.settings.prearchive_quiet_s = 0
    automatic = "build" in racers
    make_project(ctx, destination=Destination.ARCHIVE if automatic else Destination.PREARCHIVE)
    sessions, per_session = 4, 6
    for n in range(sessions):
        stage(ctx, Study(PatientName=f"S{n}", PatientID=f"E{n}"), per_session)
    if not automatic:
        assert worker.run_once(ctx) == sessions  # built, and waiting for a request
    with ctx.db.read() as db:
        staged_ids = sorted(db.scalars(select(StagedSession.id)))
    assert len(staged_ids) == sessions

    contexts = [Context.from_settings(ctx.settings) for _ in racers]
    archived: list[SessionArchived] = []
    for each in contexts:
        each.events.subscribe(SessionArchived, archived.append)
    refused: list[str] = []
    failed: list[BaseException] = []

    def racer(kind: str, c: Context, staged_id: int, start: threading.Barrier) -> None:
        start.wait()
        if kind == "build":
            worker.run_once(c)
            return
        try:
            operations.archive(c, SYSTEM, staged_id)
        except ScandepotError as exc:  # another won, and this one is told so
            refused.append(exc.message)

    try:
        for staged_id in staged_ids:
            start = threading.Barrier(len(racers))
            threads = [
                _thread(failed, racer, kind, c, staged_id, start)
                for kind, c in zip(racers, contexts, strict=True)
            ]
            for t in threads:
                t.join(timeout=60)
    finally:
        for each in contexts:
            each.close()
    assert failed == []
    assert len(archived) == sessions, (archived, refused)
    assert sorted(e.session for e in archived) == [f"E{n}" for n in range(sessions)]
    if not automatic:
        assert len(refused) == sessions, refused  # one loser a session
    with ctx.db.read() as db:
        assert db.scalar(select(func.count()).select_from(Session)) == sessions
        assert db.scalar(select(func.count()).select_from(File)) == sessions * per_session
        assert db.scalar(select(func.count()).select_from(StagedSession)) == 0
        filed = db.scalar(
            select(func.count()).select_from(Instance).where(Instance.scan_id.is_not(None))
        )
        assert filed == sessions * per_session
    assert duplicated_instances(ctx) == []
    code, report = scandepot_check(ctx)
    assert code == 0 and report["checked"] == sessions * per_session, report


def _thread(failed: list[BaseException], run: Callable[..., None], *args: Any) -> threading.Thread:
    """``run(*args)`` on a thread of its own; what it raises goes into ``failed``."""

    def guarded() -> None:
        try:
            run(*args)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failed.append(exc)

    t = threading.Thread(target=guarded)
    t.start()
    return t
