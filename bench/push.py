"""A push to Orthanc by STOW-RS against dcmtk's storescu sending the same instances, already
de-identified, to the same Orthanc by C-STORE, in one run.

The world: one project whose export script is the Basic profile (PS3.15 Annex E, no
option), and one archived session of ``--instances`` synthetic MR instances of 132 kB
(256 x 256 x 16-bit), received and archived as an upload's would be. A DICOMweb
destination points at Orthanc 1.10's DICOMweb plug-in.

Timed, alternating which goes first, ``--rounds`` times each, each on an Orthanc with
empty storage:

(a) the push: the job as the queue runs it (reach Orthanc, read and de-identify each
    instance, send in STOW-RS batches with ``--concurrency`` in flight, ask QIDO-RS what
    Orthanc holds before and after), from its claim to its end;
(b) ``/usr/bin/storescu`` sending the same instances, de-identified beforehand by the same
    script (the time to make them is not counted), over one association.

Prints both rates (instances per second) and the ratio (a)/(b). Orthanc listens on every
interface, so everything runs inside a private network namespace made for the run (only
its loopback is up); the script re-runs itself inside it. Run as root:

    .venv/bin/python bench/push.py [--instances 2000] [--rounds 2] [--concurrency 4]
        [--profile]

Not part of the test suite. Only the namespace's loopback is ever contacted.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from deid_archive import PROJECT, stage, world
from orthanc import ORTHANC_HTTP_PORT, ORTHANC_PORT, Namespace, start_orthanc, wait_http
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.access.users import actor_for
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project
from scandepot.catalog.deid import DeidScript, Purpose
from scandepot.catalog.push import PushDestination, PushDestinationProject
from scandepot.context import Context
from scandepot.export.deidentified import load
from scandepot.pipelines import queue, runner
from scandepot.prearchive import archiver
from scandepot.push import task
from scandepot.push.requests import PushRequest, request_push

ORTHANC = f"http://127.0.0.1:{ORTHANC_HTTP_PORT}"
PROFILE = '{"options": []}'


def setup(ctx: Context, instances: int, concurrency: int) -> tuple[User, list[Path]]:
    """The project's export script, an archived session, a destination, a user; the
    archived files."""
    staged_id = stage(ctx, instances, 1)
    archiver.archive(ctx, SYSTEM, staged_id)
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == PROJECT))
        db.add(
            DeidScript(
                project_id=project_id,
                purpose=Purpose.EXPORT,
                version=1,
                kind="profile",
                text=PROFILE,
                sha256=hashlib.sha256(PROFILE.encode()).hexdigest(),
                enabled=True,
                created_by="bench",
            )
        )
        user = User(login="bench", full_name="Bench", email="bench@example.org", is_site_admin=True)
        dest = PushDestination(
            name="orthanc",
            kind="dicomweb",
            url=f"{ORTHANC}/dicom-web",
            created_by="bench",
            concurrency=concurrency,
        )
        db.add_all([user, dest])
        db.flush()
        db.add(
            PushDestinationProject(destination_id=dest.id, project_id=project_id, created_by="b")
        )
        db.expunge(user)
    files = sorted((ctx.store.archive / PROJECT).rglob("*.dcm"))
    assert len(files) == instances, len(files)
    return user, files


def deidentified(ctx: Context, files: list[Path], folder: Path) -> list[Path]:
    """The archived files through the same script and keys, written for storescu."""
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == PROJECT))
        assert project_id is not None
        deid = load(db, project_id, PROJECT)
    folder.mkdir(parents=True)
    out = []
    for n, path in enumerate(files):
        done = deid.run(path.read_bytes(), subject="sub-01", session="ses-01")
        target = folder / f"{n:06d}.dcm"
        target.write_bytes(done.data)
        out.append(target)
    return out


def orthanc(run: Path) -> subprocess.Popen[bytes]:
    proc = start_orthanc(run, dicomweb=True)
    wait_http(f"{ORTHANC}/system")
    return proc


def held(expected: int) -> None:
    count = httpx.get(f"{ORTHANC}/statistics", timeout=30).json()["CountInstances"]
    if count != expected:
        raise RuntimeError(f"Orthanc holds {count} instances, not {expected}")


def push(ctx: Context, user: User, instances: int, profile: bool) -> float:
    asked = PushRequest(destination="orthanc", sessions=["ses-01"])
    pushed = request_push(ctx, actor_for(user), PROJECT, asked)
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    (job_id, token), *_ = queue.claim_next(ctx, "bench", 1)
    if profiler:
        profiler.enable()
    status = runner.execute(ctx, job_id, token, pipelines={"push": task.run}, dispatch=print)
    elapsed = time.perf_counter() - start
    if profiler:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
    if status.value != "succeeded":
        raise RuntimeError(f"push {pushed.id}: {status.value}")
    held(instances)
    return elapsed


def storescu(files: list[Path]) -> float:
    argv = ["/usr/bin/storescu", "-aec", "ORTHANC", "127.0.0.1", str(ORTHANC_PORT)]
    start = time.perf_counter()
    subprocess.run([*argv, *map(str, files)], check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    held(len(files))
    return elapsed


def measure(args: argparse.Namespace, base: Path) -> None:
    ctx = world(base / "data")
    user, files = setup(ctx, args.instances, args.concurrency)
    ready = deidentified(ctx, files, base / "deidentified")
    pushes: list[float] = []
    stores: list[float] = []
    runs = iter(range(1000))
    for round_ in range(args.rounds):
        order = ("push", "storescu") if round_ % 2 == 0 else ("storescu", "push")
        for kind in order:
            proc = orthanc(base / f"orthanc-{next(runs)}")
            try:
                if kind == "push":
                    pushes.append(push(ctx, user, args.instances, args.profile and not round_))
                else:
                    stores.append(storescu(ready))
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    a, b = (args.instances / statistics.median(x) for x in (pushes, stores))
    print(
        f"{args.instances} MR instances of 132 kB, Basic profile, {args.rounds} round(s), medians"
    )
    print(f"(a) push by STOW-RS, {args.concurrency} in flight: {a:8.1f} instances/s")
    print(f"    runs (s): {', '.join(f'{t:.2f}' for t in pushes)}")
    print(f"(b) storescu by C-STORE, de-identified beforehand: {b:8.1f} instances/s")
    print(f"    runs (s): {', '.join(f'{t:.2f}' for t in stores)}")
    print(f"ratio (a)/(b): {a / b:.2f} (target 0.8)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--profile", action="store_true", help="where the push spends its time")
    args = parser.parse_args()
    if "SDBENCH_INSIDE" not in os.environ:
        with Namespace("sdpush") as ns:
            env = {**os.environ, "SDBENCH_INSIDE": "1"}
            raise SystemExit(
                subprocess.run(ns.cmd([sys.executable, *sys.argv]), env=env).returncode
            )
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="sdpush-") as run:
        measure(args, Path(run))


if __name__ == "__main__":
    main()
