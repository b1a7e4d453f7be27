"""What a project's archive script adds to archiving, per instance; the figures for
docs/deid.md ("As sessions are archived") and docs/benchmarks.md.

The world: one project, staged sessions of ``--files`` synthetic MR instances of 132 kB
(256 x 256 x 16-bit pixels, a real pydicom header), received through
``scandepot.ingest.receive`` as a sender's would be, their checksums computed as the
prearchive builder computes them while a session waits (so that archiving does not pay
for them, as it does not after a quiet time).

Timed, in an order that rotates, ``--rounds`` times each, each on a session of its own:

(a) archiving a staged session into the project without a script: ``archiver.archive``;
(b) the engine alone over the same files, one thread, one process: for each instance
    ``engine.deidentify_file`` into a staged file of the store, then discarded (read,
    apply, verify, write);
(c) archiving with the archive script in force, its copies made on the spot (a session
    archived before the builder's quiet-time pass reached it);
(d) the builder's quiet-time pass making the copies (``deid_ahead.make``), then
(e) archiving that session, which links the copies (d) made.

Printed, per instance: what the archive step adds, (c) - (a) made on the spot and
(e) - (a) made while the session waited (the figure the issue sets at 0.5 ms); and what
de-identification costs wherever it runs, (d) + (e) - (a): moving the work into the
quiet time makes archiving faster, not the work smaller. The script is the Basic
profile (PS3.15 Annex E, no option), saved as the project's archive script.
``--sync-threads`` sets the pool that fsyncs the copies beside the script (which runs in
one thread, hashing each copy as it writes it). ``--profile`` prints where (c) spends
the archiving thread's time.

    .venv/bin/python bench/deid_archive.py [--files 500] [--rounds 3] [--sync-threads 8]
        [--under /dev/shm] [--profile]

``--under`` puts the data folder elsewhere: on a tmpfs (/dev/shm) fsync and file
creation cost next to nothing, which leaves the step's own work to measure on a machine
whose disk others share.

Not part of the test suite; nothing but the local disk and SQLite is used.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import pstats
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects, sessions
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.archive import Project
from scandepot.catalog.deid import DeidScript, Purpose
from scandepot.catalog.prearchive import Instance
from scandepot.cli.common import open_context
from scandepot.context import Context
from scandepot.deid import engine, in_force, scripts
from scandepot.deid.model import Run
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import archiver, deid_ahead, deidentify, digests
from scandepot.settings import Settings

PROJECT = "BENCH"


PROFILE = '{"options": []}'  # PS3.15 Annex E, the Basic profile, as a project saves it


def world(data: Path) -> Context:
    ctx = open_context(Settings(data_dir=data, prearchive_quiet_s=3600))
    projects.create(ctx, SYSTEM, ProjectCreate(id=PROJECT))
    return ctx


def stage(ctx: Context, files: int, round_: int) -> int:
    """A staged session of ``files`` instances in 4 series, checksums computed."""
    study = Study(StudyDescription=f"xnat://{PROJECT}/sub-{round_:02d}/ses-01")
    series = [Series(n, f"series {n}") for n in range(1, 5)]
    found = set()
    for number in range(files):
        ds = mr_instance(study, series[number % 4], number + 1, seed=number)
        staged = ctx.store.stage(hashed=False)
        staged.write(to_bytes(ds))
        found.add(receive(ctx, staged, Source("upload", project=PROJECT)).staged_id)
        staged.discard()
    (staged_id,) = found
    assert staged_id is not None
    digests.complete(ctx, staged_id)
    return staged_id


def script(ctx: Context, enabled: bool) -> None:
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == PROJECT))
        version = len(db.scalars(select(DeidScript.id)).all()) + 1
        db.add(
            DeidScript(
                project_id=project_id,
                purpose=Purpose.ARCHIVE,
                version=version,
                kind="profile",
                text=PROFILE,
                sha256=hashlib.sha256(PROFILE.encode()).hexdigest(),
                enabled=enabled,
                created_by="bench",
            )
        )


Timing = tuple[float, float]  # (wall, CPU of the whole process) in seconds


def engine_alone(ctx: Context, staged_id: int) -> Timing:
    """(b): the engine over the staged files, one thread, outputs discarded."""
    with ctx.db.read() as db:
        paths = db.scalars(select(Instance.spool_path).where(Instance.staged_id == staged_id))
        paths = [ctx.store.data_dir / str(p) for p in paths]
        project_id = db.scalar(select(Project.id).where(Project.label == PROJECT))
        assert project_id is not None
        keys = in_force.keys_of(db, project_id, create=False)
    run = Run(keys, {"PROJECT": PROJECT, "SUBJECT": "sub", "SESSION": "ses"})
    script = scripts.load("profile", PROFILE)
    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        out = ctx.store.stage(hashed=False)  # the checksums are the step's cost
        engine.deidentify_file(script, run, path, out)
        out.discard()
    return time.perf_counter() - start, time.process_time() - cpu


def archived(ctx: Context, staged_id: int, label: str) -> Timing:
    start, cpu = time.perf_counter(), time.process_time()
    archiver.archive(ctx, SYSTEM, staged_id)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    sessions.delete(ctx, SYSTEM, PROJECT, label)  # the next round archives a new one
    return elapsed


def made_ahead(ctx: Context, staged_id: int) -> Timing:
    """(d): the builder's quiet-time pass making the copies of a waiting session."""
    start, cpu = time.perf_counter(), time.process_time()
    made = deid_ahead.make(ctx, staged_id)
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    assert made > 0, "no copies made"
    return elapsed


KINDS = ("plain", "spot", "ahead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sync-threads", type=int, default=deidentify.SYNC_THREADS)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--under", type=Path, default=Path.cwd(), help="where the data folder is made"
    )
    args = parser.parse_args()
    deidentify.SYNC_THREADS = args.sync_threads
    with tempfile.TemporaryDirectory(dir=args.under) as tmp:
        ctx = world(Path(tmp) / "data")
        script(ctx, enabled=True)  # the project's key is made at first use
        with ctx.db.write() as db:
            project_id = db.scalar(select(Project.id).where(Project.label == PROJECT))
            assert project_id is not None
            in_force.keys_of(db, project_id)
        times: dict[str, list[Timing]] = {k: [] for k in ("a", "b", "c", "d", "e")}
        for round_ in range(args.rounds):
            for n, kind in enumerate(KINDS[round_ % 3 :] + KINDS[: round_ % 3]):
                staged_id = stage(ctx, args.files, round_ * 3 + n)
                script(ctx, enabled=kind != "plain")
                if kind == "plain":
                    times["a"].append(archived(ctx, staged_id, "ses-01"))
                elif kind == "spot":
                    times["b"].append(engine_alone(ctx, staged_id))
                    with profiled(args.profile and round_ == 0):
                        times["c"].append(archived(ctx, staged_id, "ses-01"))
                else:
                    times["d"].append(made_ahead(ctx, staged_id))
                    times["e"].append(archived(ctx, staged_id, "ses-01"))
        report(args, times)


@contextlib.contextmanager
def profiled(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    yield
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print(out.getvalue())


def report(args: argparse.Namespace, times: dict[str, list[Timing]]) -> None:
    per = 1000 / args.files  # seconds per session -> ms per instance
    print(f"{args.files} instances of 132 kB per session, {args.rounds} rounds, medians")
    print(f"the step's fsync threads: {args.sync_threads}; data under {args.under}")
    for i, what in ((0, "wall"), (1, "CPU")):
        m = {k: statistics.median(t[i] for t in v) * per for k, v in times.items()}
        a, b, c, d, e = (m[k] for k in "abcde")
        print(f"-- {what} time, ms per instance")
        print(f"(a) archive, no script:                    {a:7.3f}")
        print(f"(b) engine alone, one thread:              {b:7.3f}")
        print(f"(c) archive, copies made on the spot:      {c:7.3f}")
        print(f"(d) quiet-time pass making the copies:     {d:7.3f}")
        print(f"(e) archive, copies made while waiting:    {e:7.3f}")
        print(f"added to archiving, made on the spot (c-a):    {c - a:7.3f}")
        print(f"added to archiving, made while waiting (e-a):  {e - a:7.3f}")
        print(f"de-identification wherever it runs (d+e-a):    {d + e - a:7.3f}")
        print(f"the step beyond the engine (c-a-b):            {c - a - b:7.3f}")


if __name__ == "__main__":
    main()
