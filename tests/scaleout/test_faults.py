"""The faults a scaled-out deployment must survive, each made for real: a receiver
SIGKILLed mid-ingest, a worker SIGKILLed mid-job, the database restarted under load, and
archivers racing for one session. Each uses the fewest processes that show it."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage
from pynetdicom import AE
from sqlalchemy import func, select
from typer.testing import CliRunner

from scandepot.access.actors import SYSTEM
from scandepot.catalog.archive import File, Session
from scandepot.catalog.archive import UploadDestination as Destination
from scandepot.catalog.pipelines import Job
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.cli.main import app as cli
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.errors import ScandepotError
from scandepot.events import SessionArchived
from scandepot.ingest.receive import Source, receive
from scandepot.pipelines import config, jobs, wiring
from scandepot.pipelines.config import ConfigUpdate
from scandepot.pipelines.jobs import LaunchRequest
from scandepot.prearchive import operations, worker
from tests.deployment import ADMIN, Cluster, Deployment, ae_projects
from tests.pg import fresh_database
from tests.scaleout.common import (
    PROJECT,
    archived,
    duplicated_instances,
    make_project,
    storescu,
    wait_for,
    write_studies,
)

# Each on PostgreSQL; those that start processes are interop tests too.
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


def stage(ctx: Context, study: Study, instances: int, *, size: int = 32) -> None:
    """One study received as a scanner's would be, into the project's prearchive: a
    phantom head of ``instances`` slices of ``size`` x ``size`` pixels."""
    series = Series()
    source = Source("dicom", called_ae=PROJECT, calling_ae="SCANNER1", default_project=PROJECT)
    for n in range(1, instances + 1):
        buffer = io.BytesIO()
        ds = mr_instance(study, series, n, rows=size, columns=size, phantom_slices=instances)
        ds.save_as(buffer, enforce_file_format=True)
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


@dataclass
class Answer:
    at: float  # seconds since the load began
    took: float
    status: int | None  # None: no answer (a timeout or a refused connection)
    body: str


class Load(threading.Thread):
    """Requests one after another to ``urls`` in turn, each given ``timeout`` seconds,
    until stopped; every answer kept."""

    def __init__(self, urls: list[str], *, timeout: float = 30) -> None:
        super().__init__(daemon=True)
        self.urls, self.timeout = urls, timeout
        self.answers: list[Answer] = []
        self.done = threading.Event()
        self.began = time.monotonic()

    def run(self) -> None:
        with httpx.Client(auth=ADMIN, timeout=self.timeout) as client:
            n = 0
            while not self.done.is_set():
                url = self.urls[n % len(self.urls)]
                n += 1
                sent = time.monotonic()
                try:
                    r = client.get(url)
                    status, body = r.status_code, r.text
                except httpx.HTTPError as exc:
                    status, body = None, repr(exc)
                self.answers.append(
                    Answer(sent - self.began, time.monotonic() - sent, status, body)
                )
                time.sleep(0.02)

    def since(self, at: float) -> list[Answer]:
        return [a for a in self.answers if a.at >= at]


@pytest.mark.interop  # scandepot's own processes, dcmtk, Celery
def test_database_restarted_under_load_fails_cleanly_and_recovers(tmp_path: Path) -> None:
    """A PostgreSQL server of the test's own, stopped and started again while a web server
    answers a stream of requests and a receiver is sent a study: during the outage the
    web server answers at once with 503 and a clear message (never a hang, never a
    traceback), the receiver refuses instances as a transient failure; afterwards both
    work again, neither restarted."""
    cluster = Cluster()
    try:
        with fresh_database(server=cluster.server) as url:
            routes = ae_projects(SCALE=PROJECT)
            running = Deployment(tmp_path, url, webs=1, receivers=1, workers=0, ae_projects=routes)
            try:
                _restart_under_load(running, cluster, tmp_path)
            finally:
                running.close()
    finally:
        cluster.close()


def _restart_under_load(running: Deployment, cluster: Cluster, tmp_path: Path) -> None:
    with running.context() as ctx:
        make_project(ctx)
    web = running.webs[0]
    [receiver] = running.receivers
    pids = (web.proc.pid if web.proc else None, receiver.pid)
    urls = [
        f"{web.url}/api/v1/projects/{PROJECT}/sessions",
        f"{web.url}/data/projects/{PROJECT}/experiments?format=json",
        f"{web.url}/dicomweb/studies",
    ]
    load = Load(urls)
    load.start()
    try:
        wait_for("answers", lambda: len(load.answers) >= 6 or None)
        down_at = time.monotonic() - load.began
        cluster.stop("fast")
        wait_for("answers during the outage", lambda: len(load.since(down_at)) >= 10 or None)
        during = write_studies(tmp_path / "during", 1, slices=3)
        refused = storescu(running.dicom_port, next(iter(during.values())))
        refused_out = refused.communicate(timeout=120)[0]
        up_at = time.monotonic() - load.began
        cluster.start()
        wait_for(
            "a good answer after the restart",
            lambda: any(a.status == 200 for a in load.since(up_at)) or None,
            timeout=60,
        )
        recovered_at = time.monotonic() - load.began
        # Those judged below: begun half a second after the first good answer.
        wait_for("answers after it", lambda: len(load.since(recovered_at + 0.5)) >= 10 or None)
    finally:
        load.done.set()
        load.join(timeout=30)
    # By when each was answered: before the stop, during the outage, after the recovery
    # (requests under way at a boundary may go either way).
    before = [a for a in load.answers if a.at + a.took < down_at]
    outage = [a for a in load.answers if down_at <= a.at and a.at + a.took < up_at]
    after = load.since(recovered_at + 0.5)
    unanswered = [a for a in load.answers if a.status is None]
    assert unanswered == []
    assert before and all(a.status == 200 for a in before), before
    assert outage, "no request during the outage"
    for a in outage:
        assert a.status in (200, 503), a  # 200: answered before the server went
        assert "Traceback" not in a.body and "psycopg" not in a.body, a
    failed = [a for a in outage if a.status == 503]
    assert failed, outage
    assert all("catalog" in a.body for a in failed), failed[0]
    # At once, not after a connection timeout (a busy machine answers in a few seconds).
    assert max(a.took for a in failed) < 10, failed
    assert after and all(a.status == 200 for a in after), [a for a in after if a.status != 200]
    # The receiver said "not stored" for each instance during the outage (a failure the
    # sender may retry: Out of Resources), and stores the same study now.
    assert "Received Store Response (Success)" not in refused_out, refused_out
    again = storescu(running.dicom_port, next(iter(during.values())))
    again_out = again.communicate(timeout=120)[0]
    assert again.returncode == 0 and again_out.count("(Success)") == 3, again_out
    with running.context() as ctx:
        wait_for("the study archived", lambda: archived(ctx, 1, 3) or None, explain=running.logs)
    assert (web.proc.pid if web.proc else None, receiver.pid) == pids
    assert web.proc is not None and web.proc.poll() is None and receiver.running()


class Scanner(threading.Thread):
    """A scanner sending one study over C-STORE (pynetdicom as the SCU), an instance every
    ``pause`` seconds, and sending again what was not acknowledged on a new association
    when one breaks, as scanners do. Knows each instance the receiver acknowledged."""

    def __init__(self, port: int, name: str, instances: list[Dataset], *, pause: float) -> None:
        super().__init__(daemon=True)
        self.port, self.name, self.pause = port, name, pause
        self.instances = instances
        self.acknowledged: list[str] = []
        self.broken = 0  # associations that broke under it
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._send()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            self.error = exc

    def _send(self) -> None:
        ae = AE(ae_title=self.name)
        ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
        waiting = list(self.instances)
        for _attempt in range(20):
            if not waiting:
                return
            assoc = ae.associate("127.0.0.1", self.port, ae_title=PROJECT)
            # pynetdicom skips closing a socket whose peer reset it (its shutdown raises
            # first): closed here, whatever became of the association.
            raw = assoc.dul.socket.socket if assoc.dul.socket is not None else None
            try:
                self._over(assoc, waiting)
            finally:
                if raw is not None:
                    raw.close()
        assert not waiting, f"{len(waiting)} never stored"

    def _over(self, assoc: Any, waiting: list[Dataset]) -> None:
        """Send what is ``waiting`` over ``assoc`` until it is all sent or it breaks."""
        if not assoc.is_established:
            time.sleep(0.2)
            return
        while waiting and assoc.is_established:
            status = assoc.send_c_store(waiting[0])
            if not status:  # no answer: the association broke under the request
                assoc.abort()
                break
            if status.Status != 0x0000:
                raise AssertionError(f"refused: {status}")
            self.acknowledged.append(waiting.pop(0).SOPInstanceUID)
            time.sleep(self.pause)
        if waiting:
            self.broken += 1
        else:
            assoc.release()


@pytest.mark.interop  # scandepot's own processes, dcmtk, Celery
def test_a_receiver_killed_mid_ingest_loses_no_acknowledged_instance(tmp_path: Path) -> None:
    """Four scanners send at once into the port two receivers share; the receiver that
    serves more of them is SIGKILLed a third of the way in. Every instance it had
    acknowledged is archived, and the scanners' new associations go to the other one."""
    studies, per_study = 4, 48
    routes = ae_projects(SCALE=PROJECT)
    with fresh_database() as url:
        running = Deployment(tmp_path, url, webs=0, receivers=2, workers=0, ae_projects=routes)
        try:
            with running.context() as ctx:
                make_project(ctx)
            scanners = []
            for n in range(1, studies + 1):
                study, series = Study(PatientName=f"SUBJ{n}", PatientID=f"SESS{n}"), Series()
                sent = [
                    mr_instance(study, series, i, rows=128, columns=128)
                    for i in range(1, per_study + 1)
                ]
                scanners.append(Scanner(running.dicom_port, f"SCANNER{n}", sent, pause=0.03))
            for scanner in scanners:
                scanner.start()
            total = studies * per_study
            wait_for(
                "a third of the instances stored",
                lambda: sum(len(s.acknowledged) for s in scanners) >= total // 3 or None,
            )
            serving = [r.connections(running.dicom_port) for r in running.receivers]
            victim = running.receivers[serving.index(max(serving))]
            survivor = next(r for r in running.receivers if r is not victim)
            victim.kill()
            acknowledged_at_kill = sum(len(s.acknowledged) for s in scanners)
            for scanner in scanners:
                scanner.join(timeout=120)
            assert [s.error for s in scanners] == [None] * studies
            assert sum(s.broken for s in scanners) >= 1, serving  # the kill cut associations
            assert acknowledged_at_kill < total
            acknowledged = {uid for s in scanners for uid in s.acknowledged}
            assert len(acknowledged) == total
            with running.context() as ctx:
                wait_for(
                    "every study archived",
                    lambda: archived(ctx, studies, total) or None,
                    explain=running.logs,
                )
                with ctx.db.read() as db:
                    filed = set(
                        db.scalars(
                            select(Instance.SOPInstanceUID).where(Instance.scan_id.is_not(None))
                        )
                    )
                assert filed == acknowledged
                assert duplicated_instances(ctx) == []
                code, report = scandepot_check(ctx)
                assert code == 0 and report["checked"] == total, report
            assert survivor.running()
        finally:
            running.close()


@pytest.mark.interop  # scandepot's own processes, dcmtk, Celery
def test_a_worker_killed_mid_job_leaves_the_job_to_another(tmp_path: Path) -> None:
    """dcm2niix on a session, through the Celery queue: the worker running it is SIGKILLed
    while the job runs; a second worker, started after, takes the job again once its
    heartbeat is stale, and finishes it. The record tells both attempts."""
    with fresh_database() as url:
        running = Deployment(
            tmp_path, url, webs=0, receivers=0, workers=1, pipeline_stale_after_s="3"
        )
        try:
            _kill_a_worker_mid_job(running)
        finally:
            running.close()


def _kill_a_worker_mid_job(running: Deployment) -> None:
    host = socket.gethostname()
    first = running.workers[0]
    with running.context() as ctx:
        make_project(ctx)
        config.configure(ctx, SYSTEM, PROJECT, "dcm2niix", ConfigUpdate(enabled=True))
        # Big enough that dcm2niix and the publishing of its outputs take a moment.
        stage(ctx, Study(PatientName="SUBJ1", PatientID="SESS1"), 160, size=256)
        ctx.settings.prearchive_quiet_s = 0
        assert worker.run_once(ctx) == 1
        wiring.install(ctx)  # the launch is sent to the deployment's Celery queue
        job = jobs.launch(ctx, SYSTEM, PROJECT, "SESS1", LaunchRequest("dcm2niix"))

        def record() -> Job:
            with ctx.db.read() as db:
                found = db.get(Job, job.id)
            assert found is not None
            return found

        wait_for("the job to run", lambda: record().status == "running" or None, timeout=60)
        first.kill()
        at_kill = record()
        assert (at_kill.status, at_kill.worker) == ("running", f"celery:{host}:{first.pid}")
        assert at_kill.finished_at is None and at_kill.attempts == 1
        second = running.add_worker()
        done = wait_for(
            "the job finished",
            lambda: (r := record()).finished_at is not None and r or None,
            explain=running.logs,
        )
    assert (done.status, done.worker, done.attempts) == (
        "succeeded",
        f"celery:{host}:{second.pid}",
        2,
    ), (done.message, done.log)
    assert "(attempt 2)" in done.log
    with running.context() as ctx:
        code, report = scandepot_check(ctx)
    assert code == 0, report
    nifti = running.data_dir / "archive" / PROJECT / "subjects/SUBJ1/sessions/SESS1/scans/1"
    assert len(list((nifti / "resources/NIFTI/files").glob("*.nii.gz"))) == 1
