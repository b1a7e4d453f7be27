"""C-STORE throughput of scandepot against Orthanc, in the same run.

Both receivers and dcmtk's storescu run inside a private network namespace made for the
run (only its loopback is up): Orthanc 1.10 listens on every interface. Run as root:

    .venv/bin/python bench/dicom_store.py [--instances 2000] [--memory-instances 20000]

Prints instances per second for one association (130 KB MR instances), four concurrent
associations, 9 KB instances, and four associations over two scandepot receiving processes
(SCANDEPOT_DICOM_PROCESSES=2), on SQLite and on PostgreSQL (a database of its own per run
on the PostgreSQL of 127.0.0.1:5432, reached from the namespace through its Unix socket in
--pg-socket, dropped after the run); each case runs on Orthanc and right after on
scandepot (Orthanc in one process, with as many associations), and the ratio of each
pair is printed; the time from the last instance of a session to that session being
archived (auto-archive, default quiet time); and the receiver's resident memory while it
takes in --memory-instances small instances. ``--only TEXT`` runs only the cases whose
label holds TEXT, without the last two.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from statistics import median

import psycopg
from orthanc import ORTHANC_PORT, Namespace, start_orthanc, wait_echo

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.context import Context
from scandepot.db.migrate import upgrade
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.settings import Settings

SCANDEPOT_PORT = 11112


def make_instances(folder: Path, count: int, size: int, study: Study) -> list[Path]:
    """``count`` instances of one series in ``folder``, made once and reused by later runs
    (each run starts both receivers on empty storage)."""
    made = sorted(folder.glob("*.dcm")) if folder.is_dir() else []
    if len(made) == count and folder.with_name(f"{folder.name}.complete").exists():
        return made
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    series = Series(1, "bench")
    paths = []
    for i in range(1, count + 1):
        path = folder / f"{i:06d}.dcm"
        mr_instance(study, series, i, rows=size, columns=size).save_as(
            path, enforce_file_format=True
        )
        paths.append(path)
    folder.with_name(f"{folder.name}.complete").touch()
    return paths


def send(ns: Namespace, port: int, aet: str, files: list[Path], associations: int = 1) -> float:
    """Seconds to store ``files`` over ``associations`` concurrent storescu processes."""
    chunks = [files[i::associations] for i in range(associations)]
    env = {**os.environ, "TCP_NODELAY": "1"}
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            ns.cmd(["storescu", "-aec", aet, "127.0.0.1", str(port), *map(str, chunk)]),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for chunk in chunks
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"storescu failed: {err.decode()[-500:]}")
    return time.perf_counter() - start


class Scratch:
    """Where each receiver's run stores its files: a new folder per run, all removed at
    the end, none during the benchmark.

    On this machine's ext4 (no journal), creating a file between fsyncs, as both receivers
    do for every instance, costs 0.4 to 0.7 ms instead of 0.01 to 0.05 ms in a part of
    the disk where thousands of files were deleted in the last minutes, which each run
    would otherwise do to the next. The folder is also marked for the Orlov allocator
    (``chattr +T``) so that each run's folder lands in a block group of its own. The cost
    of creating a file is measured at the start and printed.
    """

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="sdbench-", dir=root))
        subprocess.run(["chattr", "+T", str(self.root)], check=False, capture_output=True)

    def run(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="run-", dir=self.root))

    def create_us(self) -> float:
        """Microseconds to create a file between fsyncs, in a run's folder."""
        probe = self.run()
        spent = 0.0
        for i in range(200):
            start = time.perf_counter()
            fd = os.open(probe / str(i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            spent += time.perf_counter() - start
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
            os.close(fd)
        return spent / 200 * 1e6

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def start_scandepot(
    ns: Namespace, data: Path, processes: int = 1, database_url: str | None = None
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ns.cmd(
            [
                sys.executable,
                "-m",
                "scandepot",
                "dicom",
                "--data-dir",
                str(data),
                "--port",
                str(SCANDEPOT_PORT),
            ]
        ),
        env={
            **os.environ,
            "SCANDEPOT_DICOM_PROCESSES": str(processes),
            **({"SCANDEPOT_DATABASE_URL": database_url} if database_url else {}),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_echo(ns, SCANDEPOT_PORT, "SCANDEPOT")
    return proc


def prepare_catalog(data: Path, database_url: str | None = None) -> Context:
    ctx = Context.from_settings(Settings(data_dir=data, database_url=database_url))
    data.mkdir(parents=True)
    ctx.store.ensure()
    upgrade(ctx.db)
    projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH", upload_destination="archive"))
    return ctx


@contextlib.contextmanager
def postgres(socket: Path) -> Iterator[str]:
    """A database of its own on the PostgreSQL behind ``socket``: its URL, then dropped.
    A Unix socket is no network's: the receivers reach it from inside the namespace."""
    name = f"sdbench_{os.getpid()}_{time.monotonic_ns()}"
    admin = f"host={socket} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@/{name}?host={socket}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def rss_kib(pid: int) -> int:
    """Resident memory of the receiver: the python process under `ip netns exec`."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    target = int(children.stdout.split()[0]) if children.stdout.strip() else pid
    for line in Path(f"/proc/{target}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--memory-instances", type=int, default=20000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sdbench")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path("/var/tmp"),
        help="where the runs' storage folders are made (removed at the end); see Scratch",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each case on each peer; medians shown"
    )
    parser.add_argument(
        "--pg-socket",
        type=Path,
        default=Path("/var/run/postgresql"),
        help="folder of the PostgreSQL server's Unix socket (user postgres, trust)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="run only the cases whose label holds this text (e.g. PostgreSQL), without the "
        "archive and memory runs",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only the first case (1 association, 130 KB), without the archive and memory runs",
    )
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    n = args.instances
    print(f"making {n} instances of 256x256 and {n} of 64x64 (16-bit)...", flush=True)
    big = make_instances(work / "big", n, 256, Study(StudyDescription="xnat://BENCH/s1/e1"))
    small = make_instances(work / "small", n, 64, Study(StudyDescription="xnat://BENCH/s2/e2"))
    size_big = big[0].stat().st_size // 1024
    size_small = small[0].stat().st_size // 1024
    results: dict[str, dict[str, list[float]]] = {}
    with Namespace() as ns, closing(Scratch(args.scratch)) as scratch:
        print(f"creating a file between fsyncs in {scratch.root}: {scratch.create_us():.0f} us")
        four = f"4 associations, {size_big} KB"
        # label, files, associations, scandepot's processes, on PostgreSQL
        cases = [
            (f"1 association, {size_big} KB", big, 1, 1, False),
            (four, big, 4, 1, False),
            (f"1 association, {size_small} KB", small, 1, 1, False),
            (f"{four}, 2 processes", big, 4, 2, False),
            (f"{four}, 2 processes, PostgreSQL", big, 4, 2, True),
        ]
        if args.quick:
            del cases[1:]
        cases = [c for c in cases if args.only in c[0]]
        # Each case on Orthanc then at once on scandepot, --repeat times: the machine's
        # other load changes less between the two figures of a pair than over the run.
        # The cases of two scandepot processes run Orthanc again (4 associations): pairs of
        # their own, each run right after the other.
        for label, files, assocs, processes, pg in cases:
            for _round in range(args.repeat):
                for peer in ("orthanc", "scandepot"):
                    run = scratch.run()
                    with contextlib.ExitStack() as stack:
                        url = None
                        if pg and peer == "scandepot":
                            url = stack.enter_context(postgres(args.pg_socket))
                        if peer == "orthanc":
                            proc = start_orthanc(run, ns)
                            port, aet = ORTHANC_PORT, "ORTHANC"
                        else:
                            prepare_catalog(run / "data", url).close()
                            proc = start_scandepot(ns, run / "data", processes, url)
                            port, aet = SCANDEPOT_PORT, "SCANDEPOT"
                        try:
                            seconds = send(ns, port, aet, files, assocs)
                        finally:
                            stop(proc)
                    results.setdefault(peer, {}).setdefault(label, []).append(n / seconds)
                    print(f"{peer:10s} {label:50s} {n / seconds:8.1f} instances/s", flush=True)
        print()
        print(f"medians of {args.repeat} (ratio: of the pairs, each run right after the other)")
        print(f"{'':50s} {'scandepot':>10s} {'Orthanc':>10s} {'ratio':>7s}  ratios")
        for label, ours in results["scandepot"].items():
            theirs = results["orthanc"][label]
            ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
            listed = " ".join(f"{r:.2f}" for r in ratios)
            print(
                f"{label:50s} {median(ours):10.1f} {median(theirs):10.1f} "
                f"{median(ratios):7.2f}  {listed}"
            )
        if args.quick or args.only:
            return

        # Last instance to archived, with the default quiet time.
        run = scratch.run()
        ctx = prepare_catalog(run / "data")
        proc = start_scandepot(ns, run / "data")
        try:
            send(ns, SCANDEPOT_PORT, "SCANDEPOT", big)
            sent = time.perf_counter()
            from sqlalchemy import func, select

            from scandepot.catalog.archive import File

            while True:
                with ctx.db.read() as db:
                    if (db.scalar(select(func.count(File.id))) or 0) >= n:
                        break
                if time.perf_counter() - sent > 120:
                    raise RuntimeError("session not archived within 120 s")
                time.sleep(0.1)
            print(
                f"\nlast instance to archived ({n} instances, quiet time "
                f"{ctx.settings.prearchive_quiet_s:g} s): {time.perf_counter() - sent:.1f} s"
            )
        finally:
            stop(proc)
            ctx.close()

        # Memory while taking in many instances.
        m = args.memory_instances
        many = make_instances(work / "many", m, 64, Study(StudyDescription="xnat://BENCH/s3/e3"))
        run = scratch.run()
        prepare_catalog(run / "data").close()
        proc = start_scandepot(ns, run / "data")
        try:
            samples: list[int] = []
            sender = subprocess.Popen(
                ns.cmd(
                    [
                        "storescu",
                        "-aec",
                        "SCANDEPOT",
                        "127.0.0.1",
                        str(SCANDEPOT_PORT),
                        "+sd",
                        str(work / "many"),
                    ]
                ),
                env={**os.environ, "TCP_NODELAY": "1"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while sender.poll() is None:
                samples.append(rss_kib(proc.pid))
                time.sleep(0.5)
            quarter = max(1, len(samples) // 4)
            print(
                f"receiver RSS over {m} instances: first quarter max "
                f"{max(samples[:quarter]) / 1024:.0f} MiB, last quarter max "
                f"{max(samples[-quarter:]) / 1024:.0f} MiB, peak {max(samples) / 1024:.0f} MiB"
            )
        finally:
            stop(proc)
        del many


if __name__ == "__main__":
    main()
