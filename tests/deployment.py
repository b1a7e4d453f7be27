"""A scaled-out deployment as separate processes, for the tests that prove it: web servers
(`scandepot serve --no-dicom`), DICOM receivers (`scandepot dicom`, sharing one port with
SO_REUSEPORT) and Celery workers (`scandepot worker`) on a PostgreSQL catalog of their own
and one data folder, with Celery on the local Redis under a queue of their own. Each
process writes to a log file, is ready when it says so, and can be stopped or killed alone
and started again.

And :class:`Cluster`, a PostgreSQL server of a test's own, for a test that restarts the
database (the shared one on 127.0.0.1:5432 is never restarted)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from scandepot.access.users import ensure_admin
from scandepot.cli.common import open_context
from scandepot.context import Context
from scandepot.settings import Settings
from tests.pg import fresh_database
from tests.serve_process import PASSWORD, Serve, free_port, serve_env

REDIS = "redis://127.0.0.1:6379/0"
ADMIN = ("admin", PASSWORD)
AE_TITLE = "SCANDEPOT"
# Generous: processes started side by side on two busy cores take their time to import.
START_WITHIN_S = 180


class Process:
    """One ``scandepot`` command as a process of its own, ready once its output shows
    ``ready`` (after this start: the log file gathers every start's output)."""

    def __init__(
        self,
        name: str,
        args: list[str],
        cwd: Path,
        env: dict[str, str],
        *,
        ready: str,
        start_within_s: float = START_WITHIN_S,
        wait: bool = True,
    ) -> None:
        self.name, self.args, self.cwd, self.env = name, args, cwd, env
        self.ready = ready
        self.start_within_s = start_within_s
        self.log = cwd / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._from = 0  # where this start's output begins in the log
        self.start(wait=wait)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, wait: bool = True) -> None:
        self._from = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scandepot", *self.args],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_within_s
        while self.ready not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{self.name} did not start:\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        """What this start of the process wrote."""
        with open(self.log, "rb") as f:
            f.seek(self._from)
            return f.read().decode(errors="replace")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connections(self, port: int) -> int:
        """Established TCP connections this process holds on its local ``port`` (the
        associations a receiver is serving), from /proc."""
        inodes = set()
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        held = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                established = state == "01"
                if established and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                    held += 1
        return held

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=30)

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)


class Deployment:
    """Web servers, receivers and workers over one catalog (``database_url``) and the data
    folder ``root/data``, started side by side once the catalog is migrated and has its
    admin account. ``settings`` are more settings of every process, by their names
    without prefix."""

    def __init__(
        self,
        root: Path,
        database_url: str,
        *,
        webs: int = 2,
        receivers: int = 2,
        workers: int = 1,
        **settings: str,
    ) -> None:
        self.root, self.database_url = root, database_url
        self.data_dir = root / "data"
        self.queue = f"scandepot-scale-{uuid.uuid4().hex[:8]}"
        self.dicom_port = free_port()
        self.env = serve_env(
            self.data_dir,
            database_url=database_url,
            pipeline_executor="celery",
            celery_broker_url=REDIS,
            celery_queue=self.queue,
            dicom_port=str(self.dicom_port),
            dicom_reuse_port="true",
            sftp_enabled="false",
            log_level="info",
            **{
                # Quick enough for tests: sessions built seconds after their last
                # instance (long enough that a sender slowed by a busy machine is not
                # cut in two), jobs taken again seconds after their worker died.
                "prearchive_quiet_s": "3",
                "pipeline_poll_s": "0.5",
                "pipeline_heartbeat_s": "1",
                "pipeline_stale_after_s": "8",
                **settings,
            },
        )
        self.webs: list[Serve] = []
        self.receivers: list[Process] = []
        self.workers: list[Process] = []
        # Made here, once: servers started together would each try to make them.
        ctx = open_context(self.settings)
        try:
            ensure_admin(ctx)
        finally:
            ctx.close()
        try:
            self.webs += [self._web(wait=False) for _ in range(webs)]
            for _ in range(receivers):
                self.add_receiver(wait=False)
            for _ in range(workers):
                self.add_worker(wait=False)
            for web in self.webs:
                web.wait_healthy()
            for process in (*self.receivers, *self.workers):
                process.wait_ready()
        except BaseException:
            self.close()
            raise

    def _web(self, *, wait: bool) -> Serve:
        return Serve(
            self.root, self.env, args=("--no-dicom",), wait=wait, start_within_s=START_WITHIN_S
        )

    def add_receiver(self, *, wait: bool = True) -> Process:
        name = f"dicom-{len(self.receivers) + 1}"
        ready = f"DICOM {AE_TITLE} on 127.0.0.1:{self.dicom_port}"
        process = Process(name, ["dicom"], self.root, self.env, ready=ready, wait=wait)
        self.receivers.append(process)
        return process

    def add_worker(self, *, wait: bool = True) -> Process:
        name = f"worker-{len(self.workers) + 1}"
        args = ["worker", "--concurrency", "2"]
        process = Process(name, args, self.root, self.env, ready=" ready.", wait=wait)
        self.workers.append(process)
        return process

    @property
    def settings(self) -> Settings:
        """The settings every process has (for a context of the test's own)."""
        return Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            pipeline_executor="celery",
            celery_broker_url=REDIS,
            celery_queue=self.queue,
            admin_password=PASSWORD,
        )

    @contextmanager
    def context(self) -> Iterator[Context]:
        """A context of the test's own on the deployment's catalog and data folder."""
        ctx = Context.from_settings(self.settings)
        try:
            yield ctx
        finally:
            ctx.close()

    def command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A ``scandepot`` command run against the deployment's catalog and data folder."""
        return subprocess.run(
            [sys.executable, "-m", "scandepot", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def logs(self) -> str:
        """Every process's output, for an assertion's message."""
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-6000:]}"
            for log in sorted(self.root.glob("*.log"))
        )

    def close(self) -> None:
        """Stop every process (all told at once, then waited for)."""
        running = [
            p.proc
            for p in (*self.webs, *self.receivers, *self.workers)
            if p.proc is not None and p.proc.poll() is None
        ]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        redis.Redis.from_url(REDIS).delete(self.queue)


@contextmanager
def deployment(root: Path, **kwargs: object) -> Iterator[Deployment]:
    """A deployment on a fresh database of the shared PostgreSQL server, stopped and its
    database dropped after."""
    root.mkdir(parents=True, exist_ok=True)
    with fresh_database() as url:
        running = Deployment(root, url, **kwargs)  # type: ignore[arg-type]
        try:
            yield running
        finally:
            running.close()


def ae_projects(**routes: str) -> str:
    """The ``ae_projects`` setting: called AE titles and the project each routes to."""
    return json.dumps(routes)


class Cluster:
    """A PostgreSQL server of a test's own (initdb, pg_ctl) on a free loopback port, that
    the test may stop and start again. Run as the ``postgres`` account when the tests run
    as root, which PostgreSQL refuses."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        assert found, "PostgreSQL's server programs are needed (/usr/lib/postgresql/*/bin)"
        self.bin = Path(found[-1]).parent
        # Not under the test's tmp_path: the postgres account must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="scandepot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()

    @property
    def server(self) -> str:
        """The server's URL without a database name (as :func:`fresh_database` takes)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 or not check, f"{program}: {done.stdout}\n{done.stderr}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast", *, check: bool = True) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=check)

    def close(self) -> None:
        self.stop("immediate", check=False)  # if the test left it running
        shutil.rmtree(self.root, ignore_errors=True)
