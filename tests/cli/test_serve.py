"""`scandepot serve` as a real process: first start, restart, a SIGKILL mid-upload, and
what its stop leaves behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from tests.conftest import empty_catalog, shared_database
from tests.helpers import API, spooled

pytestmark = pytest.mark.interop

SCANDEPOT = [sys.executable, "-m", "scandepot"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        self.dicom_port, self.sftp_port = free_port(), free_port()
        env = {
            **env,
            "SCANDEPOT_DICOM_PORT": str(self.dicom_port),
            "SCANDEPOT_SFTP_PORT": str(self.sftp_port),
        }
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*SCANDEPOT, "serve", "--port", str(self.port), *args],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def env() -> Iterator[dict[str, str]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    # One SFTP server in this module, the test's that is about it.
    yield {**clean, "SCANDEPOT_SFTP_ENABLED": "false"}


def test_first_start_with_no_arguments(tmp_path: Path, env: dict[str, str]) -> None:
    server = Server(tmp_path, env)
    try:
        out = server.output()
        assert "Created the site admin account 'admin' with password: " in out
        password = out.split("with password: ")[1].split()[0]
        data = tmp_path / "scandepot-data"
        assert (data / "scandepot.db").exists() and (data / "archive").is_dir()
        ready = httpx.get(f"{server.url}/readyz").json()
        assert ready == {"status": "ready", "checks": {"database": True, "file_store": True}}
        r = httpx.post(f"{server.url}{API}/projects", json={"id": "P1"}, auth=("admin", password))
        assert r.status_code == 201
        # The schema of a thousand routes is built on its first request: seconds of CPU,
        # more than httpx's 5 s default on a machine busy with the rest of the suite.
        doc = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=60).json()
        assert doc["info"]["title"] == "scandepot"
    finally:
        server.stop()
    # Restart: the account exists, no new password is printed, the data is still there.
    again = Server(tmp_path, env)
    try:
        assert "with password" not in again.output()
        r = httpx.get(f"{again.url}{API}/projects/P1", auth=("admin", password))
        assert r.status_code == 200
    finally:
        again.stop()


def test_serve_on_postgresql(tmp_path: Path, env: dict[str, str], pg_url: str) -> None:
    empty_catalog(shared_database(pg_url))
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM user_account")
    engine.dispose()
    env = {**env, "SCANDEPOT_ADMIN_PASSWORD": "pg-admin-pass"}
    server = Server(tmp_path, env, "--database-url", pg_url, "--data-dir", str(tmp_path / "d"))
    try:
        assert "with password" not in server.output()
        r = httpx.post(
            f"{server.url}{API}/projects", json={"id": "PG1"}, auth=("admin", "pg-admin-pass")
        )
        assert r.status_code == 201, r.text
        assert not (tmp_path / "d" / "scandepot.db").exists()
    finally:
        server.stop()


def test_sigkill_mid_upload_leaves_nothing_visible(tmp_path: Path, env: dict[str, str]) -> None:
    env = {**env, "SCANDEPOT_ADMIN_PASSWORD": "kill-test-pass"}
    auth = ("admin", "kill-test-pass")
    server = Server(tmp_path, env)
    base = f"{server.url}{API}/projects/P1/resources/R/files"
    assert (
        httpx.post(f"{server.url}{API}/projects", json={"id": "P1"}, auth=auth).status_code == 201
    )
    assert httpx.put(f"{base}/done.bin", content=b"acknowledged", auth=auth).status_code == 201

    sent = threading.Event()

    def slow_body() -> Iterator[bytes]:
        for _ in range(200):
            yield b"x" * 65536
            sent.set()
            time.sleep(0.02)

    def upload() -> None:
        try:
            httpx.put(f"{base}/half.bin", content=slow_body(), auth=auth, timeout=30)
        except httpx.TransportError:
            pass

    thread = threading.Thread(target=upload)
    thread.start()
    assert sent.wait(10)
    spooled(tmp_path / "scandepot-data" / "tmp", 1 << 20)  # some of it on the server's disk
    server.stop(signal.SIGKILL)
    thread.join(timeout=30)

    data = tmp_path / "scandepot-data"
    visible = sorted(p.name for p in (data / "archive").rglob("*") if p.is_file())
    assert visible == ["done.bin"]
    check = subprocess.run(
        [*SCANDEPOT, "check"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr

    again = Server(tmp_path, env)
    base = f"{again.url}{API}/projects/P1/resources/R/files"
    try:
        assert httpx.get(f"{base}/done.bin", auth=auth).content == b"acknowledged"
        assert httpx.get(f"{base}/half.bin", auth=auth).status_code == 404
    finally:
        again.stop()


def test_a_too_short_admin_password_stops_the_first_start(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env = {**env, "SCANDEPOT_ADMIN_PASSWORD": "short"}
    env["SCANDEPOT_DICOM_PORT"] = str(free_port())
    done = subprocess.run(
        [*SCANDEPOT, "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SCANDEPOT_ADMIN_PASSWORD must be at least 8 characters" in done.stderr


def test_serve_receives_dicom_and_archives(tmp_path: Path, env: dict[str, str]) -> None:
    env = {
        **env,
        "SCANDEPOT_ADMIN_PASSWORD": "dicom-test-pass",
        "SCANDEPOT_PREARCHIVE_QUIET_S": "0.5",
    }
    auth = ("admin", "dicom-test-pass")
    server = Server(tmp_path, env)
    try:
        r = httpx.post(
            f"{server.url}{API}/projects",
            json={"id": "PILOT", "upload_destination": "archive"},
            auth=auth,
        )
        assert r.status_code == 201
        from scandepot.dicom.synthetic import Series, Study
        from tests.helpers import write_study

        files = write_study(
            tmp_path / "in", Study(StudyDescription="xnat://PILOT/s1/e1"), [Series(1, "T1w")]
        )
        echo = subprocess.run(
            ["echoscu", "-aec", "SCANDEPOT", "127.0.0.1", str(server.dicom_port)],
            capture_output=True,
            timeout=30,
        )
        assert echo.returncode == 0
        sent = subprocess.run(
            [
                "storescu",
                "-aec",
                "SCANDEPOT",
                "127.0.0.1",
                str(server.dicom_port),
                *map(str, files),
            ],
            capture_output=True,
            timeout=60,
            env={**os.environ, "TCP_NODELAY": "1"},
        )
        assert sent.returncode == 0, sent.stderr
        deadline = time.monotonic() + 20
        url = f"{server.url}{API}/projects/PILOT/sessions/e1/scans/1/resources/DICOM/files"
        while time.monotonic() < deadline:
            r = httpx.get(url, auth=auth)
            if r.status_code == 200 and r.json()["total"] == len(files):
                break
            time.sleep(0.2)
        assert r.status_code == 200 and r.json()["total"] == len(files), r.text
    finally:
        server.stop()


def test_scanner_to_nifti_without_a_hand_touching_it(tmp_path: Path, env: dict[str, str]) -> None:
    """storescu -> receiver -> auto-archive -> auto-launched pipelines on the local pool."""
    env = {
        **env,
        "SCANDEPOT_ADMIN_PASSWORD": "e2e-test-pass",
        "SCANDEPOT_PREARCHIVE_QUIET_S": "0.5",
        "SCANDEPOT_PIPELINE_POLL_S": "0.5",
    }
    auth = ("admin", "e2e-test-pass")
    server = Server(tmp_path, env)
    base = f"{server.url}{API}/projects/PILOT"
    try:
        r = httpx.post(
            f"{server.url}{API}/projects",
            json={"id": "PILOT", "upload_destination": "archive", "session_complete_after_min": 0},
            auth=auth,
        )
        assert r.status_code == 201
        for pipeline in ("dcm2niix", "qa", "snapshots"):
            r = httpx.patch(
                f"{base}/pipelines/{pipeline}",
                json={"enabled": True, "auto_launch": True},
                auth=auth,
            )
            assert r.status_code == 200, r.text
        from scandepot.dicom.synthetic import Series, Study
        from tests.helpers import write_study

        files = write_study(
            tmp_path / "in",
            Study(StudyDescription="xnat://PILOT/s1/e1"),
            [Series(1, "T1w")],
            per_series=24,
            size=48,
            phantom_slices=24,
        )
        sent = subprocess.run(
            [
                "storescu",
                "-aec",
                "SCANDEPOT",
                "127.0.0.1",
                str(server.dicom_port),
                *map(str, files),
            ],
            capture_output=True,
            timeout=60,
            env={**os.environ, "TCP_NODELAY": "1"},
        )
        assert sent.returncode == 0, sent.stderr
        scan = f"{base}/sessions/e1/scans/1/resources"
        deadline = time.monotonic() + 120
        labels: set[str] = set()
        while time.monotonic() < deadline:
            r = httpx.get(scan, auth=auth)
            if r.status_code == 200:
                labels = {res["label"] for res in r.json()}
                if {"DICOM", "NIFTI", "QA", "SNAPSHOTS"} <= labels:
                    break
            time.sleep(0.5)
        assert {"DICOM", "NIFTI", "QA", "SNAPSHOTS"} <= labels, (
            labels,
            httpx.get(f"{base}/jobs", auth=auth).text,
        )
        nifti = httpx.get(f"{scan}/NIFTI/files", auth=auth).json()["items"]
        assert any(f["path"].endswith(".nii.gz") for f in nifti)
        assert any(f["path"].endswith(".json") for f in nifti)
        jobs = httpx.get(f"{base}/jobs", auth=auth).json()["items"]
        assert {j["pipeline"] for j in jobs} == {"dcm2niix", "qa", "snapshots"}
        assert all(j["status"] == "succeeded" for j in jobs), jobs
    finally:
        server.stop()


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid``, from /proc (zombies count as gone)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def living(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def gone_within(pids: set[int], seconds: float) -> set[int]:
    """Those of ``pids`` still alive after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while living(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return living(pids)


def serve_with_a_pool(tmp_path: Path, env: dict[str, str]) -> tuple[Server, set[int]]:
    """A server whose pipeline pool has run a job; returns it with its child processes."""
    from scandepot.access.actors import SYSTEM
    from scandepot.archive import projects, sessions, subjects
    from scandepot.archive.projects import ProjectCreate
    from scandepot.archive.sessions import SessionCreate
    from scandepot.archive.subjects import SubjectCreate
    from scandepot.cli.common import open_context
    from scandepot.pipelines import config, jobs
    from scandepot.pipelines.config import ConfigUpdate
    from scandepot.pipelines.jobs import LaunchRequest
    from scandepot.settings import Settings

    data = tmp_path / "data"
    ctx = open_context(Settings(data_dir=data))
    try:
        projects.create(ctx, SYSTEM, ProjectCreate(id="P1"))
        subjects.create(ctx, SYSTEM, "P1", SubjectCreate(label="S1"))
        sessions.create(ctx, SYSTEM, "P1", SessionCreate(label="E1", subject="S1"))
        config.configure(ctx, SYSTEM, "P1", "dcm2niix", ConfigUpdate(enabled=True))
        job = jobs.launch(ctx, SYSTEM, "P1", "E1", LaunchRequest("dcm2niix"))
    finally:
        ctx.close()
    env = {
        **env,
        "SCANDEPOT_DATA_DIR": str(data),
        "SCANDEPOT_ADMIN_PASSWORD": "stop-test-pass",
        "SCANDEPOT_PIPELINE_POLL_S": "0.2",
    }
    server = Server(tmp_path, env)
    url = f"{server.url}{API}/projects/P1/jobs/{job.id}"
    deadline = time.monotonic() + 60
    while httpx.get(url, auth=("admin", "stop-test-pass")).json()["finished_at"] is None:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.2)
    children = descendants(server.proc.pid)
    # At least a pool process and the multiprocessing resource tracker.
    assert len(children) >= 2, server.output()
    return server, children


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_serve_cleanly_with_every_child(
    tmp_path: Path, env: dict[str, str], sig: int
) -> None:
    server, children = serve_with_a_pool(tmp_path, env)
    try:
        assert server.stop(sig) == 0, server.output()
        assert gone_within(children, 5) == set(), server.output()
        assert "Finished server process" in server.output()
    finally:
        for pid in living(children):  # not to leave them behind when it fails
            os.kill(pid, signal.SIGKILL)


def test_the_children_of_a_sigkilled_serve_end_on_their_own(
    tmp_path: Path, env: dict[str, str]
) -> None:
    server, children = serve_with_a_pool(tmp_path, env)
    try:
        assert server.stop(signal.SIGKILL) == -signal.SIGKILL
        assert gone_within(children, 10) == set()
    finally:
        for pid in living(children):  # not to leave them to the next test
            os.kill(pid, signal.SIGKILL)


def test_serve_runs_the_sftp_server_with_the_same_host_key(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The SFTP server in `serve`: its host key made at the first start (owner-only) and the
    same after a restart; a researcher signs in with the scandepot password (paramiko)."""
    import paramiko

    env = {**env, "SCANDEPOT_ADMIN_PASSWORD": "sftp-test-pass", "SCANDEPOT_SFTP_ENABLED": "true"}
    keys = []
    for _ in range(2):
        server = Server(tmp_path, env)
        try:
            assert f"SFTP on 127.0.0.1:{server.sftp_port}" in server.output()
            key = tmp_path / "scandepot-data" / "sftp_host_key"
            assert key.stat().st_mode & 0o777 == 0o600
            with paramiko.Transport(("127.0.0.1", server.sftp_port)) as transport:
                transport.connect(username="admin", password="sftp-test-pass")
                keys.append(transport.get_remote_server_key().get_base64())
                channel = paramiko.SFTPClient.from_transport(transport)
                assert channel is not None and channel.listdir("/") == []
        finally:
            assert server.stop() == 0
    assert keys[0] == keys[1]
