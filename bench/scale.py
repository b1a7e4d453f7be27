"""scandepot on a PostgreSQL catalog as it grows to a million instances.

    .venv/bin/python bench/scale.py [--levels 0,100000,1000000] [--instances 500] [--runs 3]

Makes a database of its own on 127.0.0.1:5432 (dropped at the end) and a data folder in
the temp folder, then at each level of catalogued instances measures, through real
processes on loopback:

- C-STORE ingest: ``--runs`` studies of ``--instances`` 130 KB instances, each over one
  association of dcmtk's storescu into a ``scandepot dicom`` receiver on that catalog,
  projects archiving on their own; instances per second, the time from the last
  instance to the session archived (quiet time ``--quiet`` s included), and the CPU time
  the receiver and the PostgreSQL backends serving it spent per instance from the first
  instance to archived. Each run is paired with the same study sent right before into
  a twin catalog that stays empty (a second database and receiver), and the ratio of
  each pair's rates is printed: the machine's other load changes less within a pair
  than between levels;
- through a ``scandepot serve`` on the same catalog, the median of ``--repeat`` requests:
  the project listing and a project's session listing in the native API (``/api/v1``)
  and the XNAT API (``/data``), as a collaborator of two projects; the QIDO-RS study
  search over every project, as the site admin; and a session download's time to first
  byte (zip, one of the sessions the bench received).

Between levels the catalog is filled by bulk loading (COPY, :mod:`scale_fill`): studies
of 4 series of 25 instances, spread over 100 projects, written as the rows that
receiving and archiving a study really wrote. The templates are the rows of the first
study received at level 0, and the bench checks that the bulk rows fill the same tables
and the same columns as the rows of that study, and says so. No file is written for the
bulk rows: only the studies received by the bench have files.

Prints the figures and writes nothing but its temporary data. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pydicom
from dicom_store import make_instances, send
from orthanc import wait_echo
from scale_fill import TABLES, Loader, Templates, added, non_null, table_sizes
from serving import PASSWORD, free_port, serve, server_env

from scandepot.access import roles, users
from scandepot.access.actors import SYSTEM
from scandepot.access.users import UserCreate
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.access import Role
from scandepot.context import Context
from scandepot.db.migrate import upgrade
from scandepot.dicom.synthetic import Study
from scandepot.settings import Settings

PROJECTS = 100  # the bulk studies' projects, SCALE001 ...
SERIES, PER_SERIES = 4, 25  # a bulk study: 100 instances
READER_PASSWORD = "reader-password-1"
QIDO = (
    "limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060"
    "&PatientName=DOE*&StudyDate=20200101-20211231&ModalitiesInStudy=CT"
)


class Loopback:
    """The senders run here, on loopback: dcmtk's own tools (a virtualenv may hold
    pynetdicom's of the same names)."""

    @staticmethod
    def cmd(argv: list[str]) -> list[str]:
        return [f"/usr/bin/{argv[0]}", *argv[1:]]


@contextlib.contextmanager
def database(suffix: str) -> Iterator[str]:
    name = f"sdscale_{os.getpid()}_{suffix}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def prepare(data: Path, url: str) -> list[tuple[int, str]]:
    """The schema, the bench's project, the bulk projects and the reader; returns the
    bulk projects' IDs and labels."""
    ctx = Context.from_settings(Settings(data_dir=data, database_url=url))
    try:
        data.mkdir(parents=True)
        ctx.store.ensure()
        upgrade(ctx.db)
        projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH", upload_destination="archive"))
        made = []
        for i in range(1, PROJECTS + 1):
            view = projects.create(ctx, SYSTEM, ProjectCreate(id=f"SCALE{i:03d}"))
            made.append((view.project.id, view.project.label))
        users.create(ctx, SYSTEM, UserCreate(login="reader", password=READER_PASSWORD))
        for label in ("BENCH", "SCALE001"):
            roles.set_role(ctx, SYSTEM, label, "reader", Role.COLLABORATOR)
        return made
    finally:
        ctx.close()


def receiver(data: Path, url: str, port: int, quiet: float) -> subprocess.Popen[bytes]:
    env = server_env(SCANDEPOT_DATABASE_URL=url, SCANDEPOT_PREARCHIVE_QUIET_S=str(quiet))
    proc = subprocess.Popen(
        [sys.executable, "-m", "scandepot", "dicom", "--data-dir", str(data)]
        + ["--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wait_echo(None, port, "SCANDEPOT")
    return proc


def cpu_s(conn: psycopg.Connection[Any], proc: subprocess.Popen[bytes]) -> float:
    """CPU seconds used so far by a receiver and by the PostgreSQL backends serving its
    catalog (those of the bench's own connection aside): less swayed than a rate by what
    else the machine runs."""
    backends = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    ).fetchall()
    conn.commit()
    return sum(_cpu_of(pid) for pid in [proc.pid, *(int(p) for (p,) in backends)])


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a backend gone meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def archived(conn: psycopg.Connection[Any], study: str, timeout: float = 300) -> float:
    """Seconds until ``study`` is an archived session and no longer staged."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM session WHERE study_instance_uid = %s)"
            " AND NOT EXISTS (SELECT 1 FROM prearchive_session"
            " WHERE project_key = 'BENCH' AND study_instance_uid = %s)",
            (study, study),
        ).fetchone()
        conn.commit()
        if row is not None and row[0]:
            return time.perf_counter() - start
        time.sleep(0.05)
    raise RuntimeError(f"study {study} not archived within {timeout} s")


class Catalog:
    """A database and data folder of the bench, prepared; with a connection to watch it."""

    def __init__(self, db: str, data: Path) -> None:
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
        self.conn = psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}")
        self.data = data
        self.bulk = prepare(data, self.url)


class Bench:
    """``full`` is filled level by level; ``zero`` stays empty: each ingest run into the
    full catalog is paired with one into the empty catalog right before it, so that the
    ratio of the two rates sees about the same load from the rest of the machine."""

    def __init__(self, args: argparse.Namespace, work: Path, full: str, zero: str) -> None:
        self.args, self.work = args, work
        self.full = Catalog(full, work / "data")
        self.zero = Catalog(zero, work / "zero")
        self.url, self.conn, self.data = self.full.url, self.full.conn, self.full.data
        self.bulk = self.full.bulk
        self.runs = 0
        self.received: list[str] = []  # session labels in BENCH
        self.figures: dict[str, dict[int, str]] = {}
        self.loader: Loader | None = None
        self.real: dict[str, list[dict[str, Any]]] = {}

    def note(self, measure: str, level: int, value: str) -> None:
        self.figures.setdefault(measure, {})[level] = value
        print(f"  {measure}: {value}", flush=True)

    def study_files(self, count: int = 0) -> tuple[list[Path], str, str]:
        """The instances of the next study to send: ``count`` (default ``--instances``)."""
        self.runs += 1
        label = f"R{self.runs}"
        study = Study(StudyDescription=f"xnat://BENCH/{label}/{label}")
        count = count or self.args.instances
        files = make_instances(self.args.cache / f"{label}-{count}", count, 256, study)
        uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)
        return files, uid, label

    def ingest(self, level: int) -> None:
        ports = {"zero": free_port(), "full": free_port()}
        procs = {}
        rates: dict[str, list[float]] = {"zero": [], "full": []}
        cpu: dict[str, list[float]] = {"zero": [], "full": []}
        waits: dict[str, list[float]] = {"zero": [], "full": []}
        catalogs = {"zero": self.zero, "full": self.full}
        try:
            for name, catalog in catalogs.items():
                procs[name] = receiver(catalog.data, catalog.url, ports[name], self.args.quiet)
            # Not timed: each receiver's first association and archive (connections,
            # prepared statements, imports).
            files, uid, _label = self.study_files(20)
            for name, catalog in catalogs.items():
                send(Loopback(), ports[name], "SCANDEPOT", files)  # type: ignore[arg-type]
                archived(catalog.conn, uid)
            for _ in range(self.args.runs):
                files, uid, label = self.study_files()
                for name, catalog in catalogs.items():
                    before = table_sizes(catalog.conn)
                    catalog.conn.commit()
                    used = cpu_s(catalog.conn, procs[name])
                    seconds = send(Loopback(), ports[name], "SCANDEPOT", files)  # type: ignore[arg-type]
                    waits[name].append(archived(catalog.conn, uid))
                    rates[name].append(len(files) / seconds)
                    # From the first instance to archived: the archiver's work included.
                    cpu[name].append((cpu_s(catalog.conn, procs[name]) - used) / len(files) * 1000)
                self.received.append(label)
                if self.loader is None:
                    self.templates(before)
                print(
                    f"  run {label}: {rates['full'][-1]:.1f} instances/s, archived after "
                    f"{waits['full'][-1]:.2f} s; empty catalog: {rates['zero'][-1]:.1f}, "
                    f"{waits['zero'][-1]:.2f} s"
                )
        finally:
            for proc in procs.values():
                stop(proc)
        self.note(
            "C-STORE, 1 association, 130 KB (instances/s)", level, _spread(rates["full"], "{:.1f}")
        )
        ratios = [a / b for a, b in zip(rates["full"], rates["zero"], strict=True)]
        self.note("  ratio to the empty catalog, same minute", level, _spread(ratios, "{:.2f}"))
        per = "receiver + PostgreSQL CPU per instance, ms (received to archived)"
        self.note(per, level, _spread(cpu["full"], "{:.2f}"))
        self.note("  CPU in the empty catalog, same minute", level, _spread(cpu["zero"], "{:.2f}"))
        quiet = f"last instance to archived, s (quiet time {self.args.quiet:g} s)"
        self.note(quiet, level, _spread(waits["full"], "{:.2f}"))
        self.note(
            "  archived in the empty catalog, same minute", level, _spread(waits["zero"], "{:.2f}")
        )

    def templates(self, before: dict[str, int]) -> None:
        time.sleep(2)  # what follows an archive (pictures, metadata) has written its rows
        self.conn.commit()
        grown = {}
        for table, last in table_sizes(self.conn).items():
            rows = (
                added(self.conn, table, before.get(table, 0)) if last > before.get(table, 0) else []
            )
            if rows:
                grown[table] = rows
        self.conn.commit()
        print(f"  tables a received study added rows to: {', '.join(sorted(grown))}")
        missing = sorted(set(grown) - set(TABLES))
        if missing:
            print(f"  NOT bulk-loaded (received study only): {', '.join(missing)}")
        self.real = grown
        templates = Templates.read(self.conn, before)
        self.conn.commit()
        self.loader = Loader(self.conn, templates, "SD")

    def fill(self, instances: int) -> None:
        assert self.loader is not None
        studies = instances // (SERIES * PER_SERIES) - self.loader.studies
        if studies <= 0:
            return
        print(f"\nloading {studies} studies ({studies * SERIES * PER_SERIES} instances)...")
        before = table_sizes(self.conn)
        start = time.perf_counter()
        batch = self.args.batch
        for done in range(0, studies, batch):
            self.loader.load(self.bulk, min(batch, studies - done), SERIES, PER_SERIES)
        self.loader.finish()
        print(f"  loaded in {time.perf_counter() - start:.0f} s (COPY, then ANALYZE)")
        self.compare(before)

    def compare(self, before: dict[str, int]) -> None:
        """The columns a bulk study fills against those the received study filled."""
        if not self.real:
            return
        for table in TABLES:
            cur = self.conn.execute(
                f'SELECT * FROM "{table}" WHERE id > %s ORDER BY id LIMIT 500', (before[table],)
            )
            names = [d.name for d in cur.description or ()]
            bulk = non_null([dict(zip(names, r, strict=True)) for r in cur.fetchall()])
            real = non_null(self.real[table])
            same = (
                "same"
                if bulk == real
                else f"differ: real only {real - bulk}, bulk only {bulk - real}"
            )
            print(f"  {table:15s} non-null columns: {same}")
        self.conn.commit()
        self.real = {}

    def http(self, level: int) -> None:
        env = server_env(
            SCANDEPOT_DATABASE_URL=self.url,
            SCANDEPOT_DICOM_PORT=str(free_port()),
            SCANDEPOT_SFTP_ENABLED="false",
        )
        with serve(self.data, env) as (_server, base):
            admin, reader = _token(base, "admin", PASSWORD), _token(base, "reader", READER_PASSWORD)
            xnat = "/data/projects/{}/experiments?format=json"
            timed = [
                ("native: projects", reader, "/api/v1/projects"),
                ("native: sessions of SCALE001", reader, "/api/v1/projects/SCALE001/sessions"),
                ("native: sessions of BENCH", reader, "/api/v1/projects/BENCH/sessions"),
                ("XNAT: projects", reader, "/data/projects?format=json"),
                ("XNAT: experiments of SCALE001", reader, xnat.format("SCALE001")),
                ("XNAT: experiments of BENCH", reader, xnat.format("BENCH")),
                ("QIDO-RS: studies, every project", admin, f"/dicomweb/studies?{QIDO}"),
            ]
            with httpx.Client(base_url=base, timeout=120) as client:
                for name, token, path in timed:
                    ms, size = _median_ms(client, token, path, self.args.repeat)
                    self.note(f"{name}, ms", level, f"{ms:.1f} ({size})")
            label = self.received[-1]
            path = f"/api/v1/projects/BENCH/sessions/{label}/download?format=zip"
            ttfb = [_first_byte(base, admin, path) for _ in range(5)]
            self.note(
                "session download, time to first byte, ms", level, f"{statistics.median(ttfb):.1f}"
            )

    def close(self) -> None:
        self.full.conn.close()
        self.zero.conn.close()


def _token(base: str, login: str, password: str) -> str:
    made = httpx.post(f"{base}/api/v1/auth/tokens", auth=(login, password), json={"name": "scale"})
    made.raise_for_status()
    return str(made.json()["token"])


def _median_ms(client: httpx.Client, token: str, path: str, times: int) -> tuple[float, str]:
    headers = {"authorization": f"Bearer {token}"}
    first = client.get(path, headers=headers)
    first.raise_for_status()
    body = first.json()
    found = body.get("ResultSet", {}).get("Result") if isinstance(body, dict) else body
    if isinstance(body, dict) and found is None:
        found = body.get("items", body.get("results"))
    size = f"{len(found)}" if isinstance(found, list) else f"{len(first.content)} bytes"
    spent = []
    for _ in range(times):
        start = time.perf_counter()
        client.get(path, headers=headers).raise_for_status()
        spent.append((time.perf_counter() - start) * 1000)
    return statistics.median(spent), size


def _first_byte(base: str, token: str, path: str) -> float:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        start = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status}")
        response.read(1)
        return (time.perf_counter() - start) * 1000
    finally:
        conn.close()


def _spread(values: list[float], fmt: str) -> str:
    shown = " ".join(fmt.format(v) for v in values)
    return f"{fmt.format(statistics.median(values))} ({shown})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", default="0,100000,1000000")
    parser.add_argument("--instances", type=int, default=300, help="per ingest run")
    parser.add_argument("--runs", type=int, default=7, help="ingest runs (studies) per level")
    parser.add_argument("--repeat", type=int, default=20, help="requests per listing")
    parser.add_argument("--quiet", type=float, default=2.0, help="prearchive quiet time, s")
    parser.add_argument("--batch", type=int, default=1000, help="bulk studies per COPY")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sdscale",
        help="the instances sent, made once and reused",
    )
    args = parser.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    work = Path(tempfile.mkdtemp(prefix="sdscale-", dir="/var/tmp"))
    print(f"host: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; data in {work}")
    try:
        with database("full") as full, database("zero") as zero:
            bench = Bench(args, work, full, zero)
            try:
                for level in levels:
                    if level:
                        bench.fill(level)
                    print(f"\n== {level:,} catalogued instances (load {os.getloadavg()[0]:.2f})")
                    bench.ingest(level)
                    bench.http(level)
            finally:
                bench.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Columns as wide as their widest figure (a median with its runs in brackets).
    cells = [[by_level.get(v, "-") for v in levels] for by_level in bench.figures.values()]
    widths = [
        max([len(f"{v:,}"), *(len(row[i]) for row in cells)]) + 3 for i, v in enumerate(levels)
    ]
    print(f"\n{'':58s}" + "".join(f"{v:>{w},}" for v, w in zip(levels, widths, strict=True)))
    for measure, row in zip(bench.figures, cells, strict=True):
        print(f"{measure:58s}" + "".join(f"{c:>{w}s}" for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
