"""Copies and moves between projects against ``cp -al`` and ``sha256sum``, same run;
figures for docs/benchmarks.md ("Transfers").

The world: project SRC with ``--sessions`` sessions (one subject each) of ``--files``
files (10 scans of 200 by default), bulk-loaded as the archive leaves them: each file a
synthetic MR instance (a real DICOM header made by pydicom, 256 x 256 x 16-bit random
pixels, 132 kB) written under its archive name, a File row with its real MD5, SHA-256
and CRC-32, a DICOM Instance row, and the Subject, Session, Scan and Resource rows above.
``scandepot.archive.check`` must find catalog and disk agreeing before anything is timed.

(a) Copy of one session into a new project, ``--copies`` times: wall time from
``transfers.service.start`` until its job (run in this process, as the pool runs it)
ended, with the verification from the catalog.

(b) Move of every session (their subjects named), ``--moves`` times, back and forth
between SRC and DST: wall time from ``start`` until the job ended, verified from the
catalog and from the bytes, the source deleted. The peer, in the same run, alternating
which goes first: the same session folders hard-linked into a fresh folder and every file
hashed, as a person would in a shell:

    cp -al ARCHIVE/P/subjects/S01/sessions/E01 ... ARCHIVE/P/subjects/S20/sessions/E20 PEER/
    find PEER -type f -print0 | xargs -0 sha256sum > PEER.sha256

The page cache is warm for both (the files were just read by the check); with
``--cold`` it is dropped (``sync; echo 3 > /proc/sys/vm/drop_caches``, as root) before
each side. Each job's time is split into its phases (copy, verify, delete) by timers
around those steps. ``--profile`` runs one copy and one move under cProfile and prints
where the time went.

    .venv/bin/python bench/transfer.py [--sessions 20] [--files 2000] [--copies 7]
        [--moves 5] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB]
        [--cold] [--profile]

Not part of the test suite; only 127.0.0.1 is contacted (PostgreSQL, when given).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import UID
from sqlalchemy import create_engine, insert, select, text

from scandepot.access import users
from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.users import UserCreate
from scandepot.archive import check, layout, projects
from scandepot.archive.projects import ProjectCreate
from scandepot.archive.resources import new_resource
from scandepot.catalog.archive import File, Project, Scan, Session, Subject, UploadDestination
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.prearchive import Instance
from scandepot.catalog.transfers import TransferKind
from scandepot.cli.common import open_context
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.pipelines import queue, runner
from scandepot.settings import Settings
from scandepot.storage.store import Hasher
from scandepot.transfers import copying, moving, service, task, verify
from scandepot.transfers.requests import TransferRequest

SOURCE, OTHER = "SRC", "DST"
PER_SCAN = 200
MR = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
PIXELS = 256 * 256 * 2

# ---- the world ---------------------------------------------------------------------------


def sop_uid(session: int, scan: int, n: int) -> str:
    """Fixed length within a scan, so a template's UID can be swapped in place."""
    return f"2.25.1{session:04d}{scan:03d}{n:06d}"


def template(session: int, scan: int) -> bytes:
    study = Study(PatientID=f"S{session:02d}", StudyInstanceUID=f"2.25.2{session:04d}")
    series = Series(scan, SeriesDescription=f"series {scan}")
    ds = mr_instance(study, series, 1, rows=256, columns=256, seed=session * 1000 + scan)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid(session, scan, 0))
    ds.SeriesInstanceUID = f"2.25.3{session:04d}{scan:03d}"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def write_scan(folder: Path, session: int, scan: int, count: int) -> list[dict[str, Any]]:
    """``count`` instances of a scan (the template with its own UID and pixels), written
    under their archive names; their File rows' values."""
    folder.mkdir(parents=True)
    head = template(session, scan)
    old = sop_uid(session, scan, 0).encode()
    rng = np.random.default_rng(session * 1000 + scan)
    rows = []
    for n in range(1, count + 1):
        uid = sop_uid(session, scan, n)
        body = head[:-PIXELS].replace(old, uid.encode()) + rng.bytes(PIXELS)
        (folder / f"{uid}.dcm").write_bytes(body)
        hasher = Hasher()
        hasher.update(body)
        d = hasher.digest()
        rows.append(
            {"path": f"{uid}.dcm", "size": d.size, "md5": d.md5, "sha256": d.sha256}
            | {"crc32": d.crc32, "format": "DICOM", "uid": uid, "n": n}
        )
    return rows


def load_session(ctx: Context, number: int, files: int) -> None:
    """One session's rows and files, bulk-loaded as an archive leaves them."""
    subject_label, label = f"S{number:02d}", f"E{number:02d}"
    site = ctx.settings.site_id
    with ctx.db.write() as db:
        project = db.scalar(select(Project).where(Project.label == SOURCE))
        assert project is not None
        subject = Subject(project_id=project.id, label=subject_label, fields={}, sex="unknown")
        subject.stable_id = next_stable_id(db, "subject", site)
        db.add(subject)
        db.flush()
        session = Session(
            project_id=project.id,
            subject_id=subject.id,
            label=label,
            stable_id=next_stable_id(db, "session", site),
            modality="MR",
            date=dt.date(2026, 1, 1) + dt.timedelta(days=number),
            note="",
            StudyInstanceUID=f"2.25.2{number:04d}",
            PatientID=subject_label,
            PatientName=f"{subject_label}^Bench",
            ModalitiesInStudy="MR",
        )
        db.add(session)
        db.flush()
        session.subject = subject
        for first in range(0, files, PER_SCAN):
            scan_no = first // PER_SCAN + 1
            load_scan(ctx, db, project, session, scan_no, min(PER_SCAN, files - first))


def load_scan(
    ctx: Context, db: Any, project: Project, session: Session, n: int, count: int
) -> None:
    number = int(session.label[1:])
    series_uid = f"2.25.3{number:04d}{n:03d}"
    scan = Scan(
        session_id=session.id,
        label=str(n),
        type=f"series {n}",
        SeriesInstanceUID=series_uid,
        SeriesNumber=n,
        SeriesDescription=f"series {n}",
        Modality="MR",
        frames=1,
        note="",
    )
    db.add(scan)
    db.flush()
    owner = layout.Owner(project, session.subject, session, scan)
    resource = new_resource(owner, "DICOM")
    db.add(resource)
    db.flush()
    rows = write_scan(ctx.archive_path(owner.resource_files_dir("DICOM")), number, n, count)
    keys = ("path", "size", "md5", "sha256", "crc32", "format")
    db.execute(insert(File), [{"resource_id": resource.id} | {k: r[k] for k in keys} for r in rows])
    ids = dict(db.execute(select(File.path, File.id).where(File.resource_id == resource.id)).all())
    db.execute(
        insert(Instance),
        [
            {
                "scan_id": scan.id,
                "file_id": ids[r["path"]],
                "SOPInstanceUID": r["uid"],
                "SOPClassUID": MR,
                "TransferSyntaxUID": EXPLICIT_LE,
                "StudyInstanceUID": session.StudyInstanceUID,
                "SeriesInstanceUID": series_uid,
                "SeriesNumber": n,
                "SeriesDescription": f"series {n}",
                "Modality": "MR",
                "InstanceNumber": r["n"],
                "Rows": 256,
                "Columns": 256,
                "BitsAllocated": 16,
                "size": r["size"],
                "md5": r["md5"],
                "sha256": r["sha256"],
                "crc32": r["crc32"],
            }
            for r in rows
        ],
    )


def fresh(settings: Settings) -> Context:
    if settings.database_url:
        engine = create_engine(settings.database_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    return open_context(settings)


def build(ctx: Context, sessions: int, files: int) -> Actor:
    """The world, and the account that moves things (owner of every project it makes)."""
    users.ensure_admin(ctx)
    user, _ = users.create(ctx, SYSTEM, UserCreate(login="mover", password="x" * 16))
    mover = users.actor_for(user)
    for label in (SOURCE, OTHER):
        projects.create(
            ctx, mover, ProjectCreate(id=label, upload_destination=UploadDestination.ARCHIVE)
        )
    start = time.perf_counter()
    for number in range(1, sessions + 1):
        load_session(ctx, number, files)
    os.sync()  # nothing left to write back while the runs are timed
    print(f"loaded {sessions} x {files} files in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    report = check.check(ctx)
    assert report.ok and report.checked == sessions * files, report
    took = time.perf_counter() - start
    print(f"check: {report.checked} files agree with the catalog ({took:.1f} s)")
    return mover


# ---- the runs ----------------------------------------------------------------------------

PHASES: dict[str, float] = defaultdict(float)


@contextmanager
def phase_timers() -> Iterator[None]:
    """Time the job's steps as task.py calls them (module attributes, looked up per call)."""
    saved = [
        (copying, "copy_item"),
        (verify, "compare_item"),
        (moving, "delete_source"),
        (moving, "delete_subject_if_empty"),
    ]
    names = {"copy_item": "copy", "compare_item": "verify"}
    originals = [(mod, name, getattr(mod, name)) for mod, name in saved]
    for mod, name, fn in originals:
        setattr(mod, name, timed(names.get(name, "delete"), fn))
    try:
        yield
    finally:
        for mod, name, fn in originals:
            setattr(mod, name, fn)


def timed(phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES[phase] += time.perf_counter() - start

    return wrapper


def run_transfer(ctx: Context, actor: Actor, request: TransferRequest) -> tuple[float, str]:
    """Start the transfer and run its job here; seconds, and the split by phase."""
    PHASES.clear()
    start = time.perf_counter()
    view = service.start(ctx, actor, request)
    taken = queue.claim_next(ctx, "bench", 1)
    assert len(taken) == 1
    ended = runner.execute(
        ctx, *taken[0], pipelines={"transfer": task.run}, dispatch=lambda _ids: None
    )
    seconds = time.perf_counter() - start
    done = service.get(ctx, actor, view.transfer.id)
    assert ended is JobStatus.SUCCEEDED and done.verified, done.message
    rest = seconds - sum(PHASES.values())
    split = ", ".join(f"{k} {v:.2f}" for k, v in PHASES.items()) + f", rest {rest:.2f}"
    return seconds, split


def drop_caches(cold: bool) -> None:
    if cold:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def copy_once(ctx: Context, actor: Actor, n: int, cold: bool) -> tuple[float, str]:
    dest = f"COPY{n:02d}"
    projects.create(
        ctx, actor, ProjectCreate(id=dest, upload_destination=UploadDestination.ARCHIVE)
    )
    drop_caches(cold)
    request = TransferRequest(
        kind=TransferKind.COPY, source=SOURCE, destination=dest, sessions=["E01"]
    )
    return run_transfer(ctx, actor, request)


def move_once(
    ctx: Context, actor: Actor, src: str, dst: str, sessions: int, cold: bool
) -> tuple[float, str]:
    drop_caches(cold)
    subjects = [f"S{i:02d}" for i in range(1, sessions + 1)]
    request = TransferRequest(
        kind=TransferKind.MOVE, source=src, destination=dst, subjects=subjects
    )
    return run_transfer(ctx, actor, request)


def peer_once(
    ctx: Context, where: str, sessions: int, files: int, work: Path, cold: bool
) -> tuple[float, float]:
    """``cp -al`` of the session folders, then ``sha256sum`` of every file; seconds of
    each. The sums are checked against the catalog afterwards, untimed."""
    root = ctx.store.archive / where / "subjects"
    folders = [str(root / f"S{i:02d}" / "sessions" / f"E{i:02d}") for i in range(1, sessions + 1)]
    peer, sums = work / "peer", work / "peer.sha256"
    shutil.rmtree(peer, ignore_errors=True)
    peer.mkdir()
    drop_caches(cold)
    start = time.perf_counter()
    subprocess.run(["cp", "-al", *folders, str(peer) + "/"], check=True)
    linked = time.perf_counter()
    hashing = f"find {peer} -type f -print0 | xargs -0 sha256sum > {sums}"
    subprocess.run(["sh", "-c", hashing], check=True)
    hashed = time.perf_counter()
    with ctx.db.read() as db:
        known = set(db.scalars(select(File.sha256)))
    found = [line.split()[0] for line in sums.read_text().splitlines()]
    assert len(found) == sessions * files and set(found) <= known, "the peer's sums differ"
    shutil.rmtree(peer)
    return linked - start, hashed - linked


def spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"
    )


def profiled(what: str, fn: Callable[[], tuple[float, str]]) -> None:
    profile = cProfile.Profile()
    seconds, split = profile.runcall(fn)
    print(f"\n--- profile of the {what} ({seconds:.2f} s; {split}) ---")
    stats = pstats.Stats(profile, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def measure(ctx: Context, mover: Actor, args: argparse.Namespace, work: Path) -> None:
    copies = []
    for n in range(1, args.copies + 1):
        seconds, split = copy_once(ctx, mover, n, args.cold)
        copies.append(seconds)
        print(f"copy {n}: {seconds:.2f} s ({split})")
    ours, cp, sums, ratios = [], [], [], []
    where, there = SOURCE, OTHER
    for n in range(1, args.moves + 1):
        peer_first = n % 2 == 0
        if peer_first:
            linked, hashed = peer_once(ctx, where, args.sessions, args.files, work, args.cold)
        seconds, split = move_once(ctx, mover, where, there, args.sessions, args.cold)
        if not peer_first:
            linked, hashed = peer_once(ctx, there, args.sessions, args.files, work, args.cold)
        ours.append(seconds)
        cp.append(linked)
        sums.append(hashed)
        ratios.append(seconds / (linked + hashed))
        print(
            f"move {n} {where}->{there}: {seconds:.2f} s ({split}); peer cp -al {linked:.2f} s"
            f" + sha256sum {hashed:.2f} s; ratio {ratios[-1]:.3f}"
        )
        where, there = there, where
    catalog = "PostgreSQL" if args.database_url else "SQLite"
    state = "cold (page cache dropped before each side)" if args.cold else "warm page cache"
    print(f"\n{catalog} catalog, {state}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"copy of 1 session x {args.files} files (catalog verify): {spread(copies)}")
    print(f"move of {args.sessions} x {args.files} files (catalog + bytes): {spread(ours)}")
    print(f"peer cp -al: {spread(cp)}; sha256sum: {spread(sums)}")
    both = [a + b for a, b in zip(cp, sums, strict=True)]
    print(f"peer cp -al + sha256sum: {spread(both)}")
    shown = ", ".join(f"{r:.3f}" for r in ratios)
    print(f"move / peer: median of runs {statistics.median(ratios):.3f} ({shown})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=7)
    parser.add_argument("--moves", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sd-transfer-"))
    settings = Settings(
        data_dir=work / "data",
        database_url=args.database_url,
        log_level="warning",
    )
    ctx = fresh(settings)
    try:
        mover = build(ctx, args.sessions, args.files)
        with phase_timers():
            if args.profile:
                profiled("copy", lambda: copy_once(ctx, mover, 99, args.cold))
                profiled(
                    "move",
                    lambda: move_once(ctx, mover, SOURCE, OTHER, args.sessions, args.cold),
                )
                return
            measure(ctx, mover, args, work)
        report = check.check(ctx, checksums=False)
        assert report.ok, report
        print(f"check afterwards: {report.checked} files, catalog and disk agree")
    finally:
        ctx.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
