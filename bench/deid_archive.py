"""What a project's archive script adds to archiving, per instance, beyond the engine's
own cost; the figure for docs/deid.md ("As sessions are archived") and docs/benchmarks.md.

The world: one project, staged sessions of ``--files`` synthetic MR instances of 132 kB
(256 x 256 x 16-bit pixels, a real pydicom header), received through
``scandepot.ingest.receive`` as a sender's would be, their checksums computed as the
prearchive builder computes them while a session waits (so that archiving does not pay
for them, as it does not after a quiet time).

Timed, alternating which goes first, ``--rounds`` times each:

(a) archiving a staged session into the project without a script: ``archiver.archive``;
(b) the engine alone over the same files, one thread, one process: for each instance
    ``engine.deidentify_file`` into a staged file of the store, then discarded. This is the
    engine's own cost (read, apply, verify, write), which the step pays once per instance;
(c) archiving the same staged session with an archive script in force.

The step adds (c) - (a) - (b) per instance: the copy's fsync and hashing, the header
read back, the rows rewritten, the plan made again, the threads. The script is the
Basic profile (PS3.15 Annex E, no option), saved as the project's archive script.
``--sync-threads`` sets the step's pool that fsyncs the copies beside the script (which
runs in the archiving thread, hashing each copy as it writes it). ``--profile`` prints
where (c) spends the archiving thread's time.

    .venv/bin/python bench/deid_archive.py [--files 500] [--rounds 3] [--sync-threads 8]
        [--under /dev/shm] [--profile]

``--under`` puts the data folder elsewhere: on a tmpfs (/dev/shm) fsync and file
creation cost next to nothing, which leaves the step's own work to measure on a machine
whose disk others share.

Not part of the test suite; nothing but the local disk and SQLite is used.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import statistics
import tempfile
import time
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
from scandepot.prearchive import archiver, deidentify, digests
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
        plain: list[Timing] = []
        alone: list[Timing] = []
        with_script: list[Timing] = []
        for round_ in range(args.rounds):
            order = ("plain", "deid") if round_ % 2 == 0 else ("deid", "plain")
            for kind in order:
                staged_id = stage(ctx, args.files, round_ * 2 + (kind == "deid"))
                label = "ses-01"
                if kind == "plain":
                    script(ctx, enabled=False)
                    plain.append(archived(ctx, staged_id, label))
                else:
                    script(ctx, enabled=True)
                    alone.append(engine_alone(ctx, staged_id))
                    if args.profile and round_ == 0:
                        profiler = cProfile.Profile()
                        profiler.enable()
                    with_script.append(archived(ctx, staged_id, label))
                    if args.profile and round_ == 0:
                        profiler.disable()
                        out = io.StringIO()
                        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
                        print(out.getvalue())
        report(args, plain, alone, with_script)


def report(
    args: argparse.Namespace,
    plain: list[Timing],
    alone: list[Timing],
    with_script: list[Timing],
) -> None:
    per = 1000 / args.files  # seconds per session -> ms per instance
    print(f"{args.files} instances of 132 kB per session, {args.rounds} rounds, medians")
    print(f"the step's fsync threads: {args.sync_threads}; data under {args.under}")
    for i, what in ((0, "wall"), (1, "CPU")):
        a, b, c = (statistics.median(t[i] for t in x) * per for x in (plain, alone, with_script))
        print(f"-- {what} time, ms per instance")
        print(f"(a) archive, no script:          {a:7.3f}")
        print(f"(b) engine alone, one thread:    {b:7.3f}")
        print(f"(c) archive with the script:     {c:7.3f}")
        print(f"added by the step, (c)-(a)-(b):  {c - a - b:7.3f}")


if __name__ == "__main__":
    main()
