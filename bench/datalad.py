"""DataLad access: making a visit's metadata and dataset, and ``datalad get`` of a whole
visit against ``curl`` downloading the same tarball from the same server, in one run.

1. Generation: a session of ``--files`` small DICOM files (default 2000) archived as an
   upload leaves it, then the ``datalad`` pipeline's work on it timed in steps: the
   tarball's MD5 (reading every file), the metadata (the catalog, and each file's header
   for the three headers the catalog lacks), and the dataset by DataLad and git-annex.
   Target: under 30 s in all.
2. Retrieval: a session of ``--big-mb`` MB (default 260) in files of about 1 MB, its
   dataset deposited, ``scandepot serve`` on 127.0.0.1; ``curl`` of the tarball to a
   file, then ``datalad clone`` and ``datalad get .`` (the tarball through uncurl, each
   file out of it through archivist, every checksum checked). The ratio is the get's rate
   over curl's. Target: at least 0.5. Then the same get by ``git annex get --debug .`` in
   a second clone, its log cut into steps: where the time goes.

    .venv/bin/python bench/datalad.py [--files 2000] [--big-mb 260] [--only retrieval] [--jobs 2]

Not part of the test suite. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import serve, server_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.datalad.peers

PROJECT = "BENCH"


def build(data_dir: Path, files: int, side: int, per_series: int) -> tuple[object, str]:
    """A public project with one session of ``files`` MR instances of side x side pixels,
    received and archived as an upload; the context and the visit ID."""
    from sqlalchemy import select

    from scandepot.access.actors import SYSTEM
    from scandepot.archive import projects
    from scandepot.archive.projects import ProjectCreate
    from scandepot.catalog.archive import Session
    from scandepot.catalog.prearchive import StagedSession
    from scandepot.cli.common import open_context
    from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
    from scandepot.ingest.receive import Source, receive
    from scandepot.prearchive import operations
    from scandepot.settings import Settings

    ctx = open_context(Settings(data_dir=data_dir))
    projects.create(ctx, SYSTEM, ProjectCreate(id=PROJECT, accessibility="public"))
    study = Study()
    source = Source("upload", project=PROJECT, subject="S1", session="E1")
    for index in range(files):
        series = Series(1 + index // per_series, f"series {1 + index // per_series}")
        ds = mr_instance(study, series, 1 + index % per_series, rows=side, columns=side)
        with ctx.store.stage() as staged:
            staged.write(to_bytes(ds))
            receive(ctx, staged, source)
    with ctx.db.read() as db:
        staged_ids = db.scalars(select(StagedSession.id)).all()
    for staged_id in staged_ids:
        operations.archive(ctx, SYSTEM, staged_id)
    with ctx.db.read() as db:
        visit = db.scalar(select(Session.stable_id))
    assert visit is not None
    return ctx, visit


def generation(files: int) -> None:
    from scandepot.access.actors import SYSTEM
    from scandepot.datalad import deposit, metadata, tarball, visits

    with tempfile.TemporaryDirectory(prefix="bench-datalad-") as tmp:
        ctx, visit = build(Path(tmp) / "data", files, 64, 200)
        work = Path(tmp) / "work"
        found = visits.get(ctx, SYSTEM, PROJECT, visit)  # type: ignore[arg-type]
        began = time.perf_counter()
        tar = tarball.whole(found, time.time_ns())
        tarball.md5(tar)
        md5_s = time.perf_counter() - began
        began = time.perf_counter()
        dicoms = metadata.dicoms(found)
        metadata_s = time.perf_counter() - began
        # What the pipeline does, all of it: the two steps above, then the dataset.
        began = time.perf_counter()
        found = visits.get(ctx, SYSTEM, PROJECT, visit)  # type: ignore[arg-type]
        made = deposit.make(
            found, work, store_url="http://127.0.0.1:1/datalad", previous=None,
            run=deposit.plain_runner,
        )  # fmt: skip
        total_s = time.perf_counter() - began
        assert made.dicoms == len(dicoms) == files
        print(f"generation of a {files}-file visit ({tar.total / 1e6:.1f} MB tarball):")
        print(f"  tarball MD5 alone     {md5_s:6.2f} s")
        print(f"  metadata alone        {metadata_s:6.2f} s")
        print(f"  dataset (DataLad)     {total_s - md5_s - metadata_s:6.2f} s")
        print(f"  all, as the pipeline  {total_s:6.2f} s   (target < 30 s)")


def retrieval(big_mb: int, jobs: int) -> None:
    from tests.datalad.peers import datalad, datalad_env

    from scandepot.access.actors import SYSTEM
    from scandepot.datalad import deposit, representation, store, visits

    with tempfile.TemporaryDirectory(prefix="bench-datalad-") as tmp:
        root = Path(tmp)
        files = big_mb  # about 1 MB each: 724 x 724 pixels of 2 bytes
        ctx, visit = build(root / "data", files, 724, 100)
        from serving import free_port  # the server's port is needed before it starts

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = server_env(SCANDEPOT_PUBLIC_URL=base, SCANDEPOT_DATA_DIR=str(root / "data"))
        found = visits.get(ctx, SYSTEM, PROJECT, visit)  # type: ignore[arg-type]
        made = deposit.make(
            found,
            root / "work",
            store_url=f"{base}/datalad",
            previous=None,
            run=deposit.plain_runner,
        )
        deposit.put(made, store.deposit_dir(ctx, visit))  # type: ignore[arg-type]
        ctx.close()  # type: ignore[attr-defined]
        with serve(root / "data", env, port=port) as (_server, url):
            assert url == base
            tar_url = f"{base}/datalad/{PROJECT}/{visit}_dicom.tar"
            began = time.perf_counter()
            subprocess.run(["curl", "-sf", "-o", str(root / "curl.tar"), tar_url], check=True)
            curl_s = time.perf_counter() - began
            size = (root / "curl.tar").stat().st_size
            os.unlink(root / "curl.tar")
            clone_env = datalad_env()
            clone_url = representation.annex_url(f"{base}/datalad/{PROJECT}/{visit}_")
            datalad("clone", clone_url, "visit", cwd=root, env=clone_env)
            began = time.perf_counter()
            parallel = ["-J", str(jobs)] if jobs > 1 else []
            datalad("get", *parallel, ".", cwd=root / "visit", env=clone_env)
            get_s = time.perf_counter() - began
            # Where the time goes: the same get by git-annex alone, in a clone of its own,
            # with git-annex's timestamped debug log.
            datalad("clone", clone_url, "traced", cwd=root, env=clone_env)
            traced = subprocess.run(
                ["git", "annex", "get", "--debug", "."],
                cwd=root / "traced",
                env=clone_env,
                capture_output=True,
                text=True,
                check=True,
            )
        mb = size / 1e6
        print(f"retrieval of a {mb:.0f} MB visit ({files} files) from scandepot serve:")
        print(f"  curl of the tarball   {curl_s:6.2f} s  {mb / curl_s:7.1f} MB/s")
        print(f"  datalad get -J {jobs} .    {get_s:6.2f} s  {mb / get_s:7.1f} MB/s")
        print(f"  ratio get / curl      {curl_s / get_s:6.2f}   (target >= 0.5)")
        print("where git annex get . spends its time (its --debug log, another clone):")
        for label, seconds in breakdown(traced.stderr):
            print(f"  {label:<58} {seconds:6.2f} s")


# A line of git-annex's --debug log: its time, then what it says.
DEBUG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d(?:\.\d+)?)\] (.*)$")
TRANSFER = re.compile(
    r"git-annex-remote-(\w+)\[\d+\] (<--|-->) TRANSFER(?:-SUCCESS|-FAILURE)? RETRIEVE"
)


def breakdown(log: str) -> list[tuple[str, float]]:
    """The steps of ``git annex get .`` from its --debug log: the requests to each
    special remote's program (``TRANSFER RETRIEVE`` and its answer) and what lies
    between them."""
    stamped: list[tuple[float, str]] = []
    for line in log.splitlines():
        found = DEBUG_LINE.match(line)
        if found:
            hours, minutes, seconds, text = found.groups()
            at = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            if stamped and at < stamped[-1][0] - 3600:  # past midnight
                at += 86400
            stamped.append((at, text))
    # (remote, asked at, answered at), in order
    transfers: list[tuple[str, float, float]] = []
    for at, text in stamped:
        found = TRANSFER.search(text)
        if found and found.group(2) == "<--":
            transfers.append((found.group(1), at, at))
        elif found and transfers:
            remote, asked, _ = transfers[-1]
            transfers[-1] = (remote, asked, at)
    members = [t for t in transfers if t[0] == "archivist"]
    tarball = [t for t in transfers if t[0] == "uncurl"]
    if not members:
        return [("no file came through archivist", 0.0)]
    first, rest = members[0], members[1:]
    start, end = stamped[0][0], stamped[-1][0]
    steps = [
        ("start: git-annex, the special remotes' programs", first[1] - start),
        ("1st file: archivist gets the tarball (uncurl), MD5, file", first[2] - first[1]),
    ]
    if rest:
        in_archivist = sum(done - asked for _, asked, done in rest)
        between = sum(b[1] - a[2] for a, b in zip(members, rest, strict=False))
        steps += [
            (f"{len(rest)} more files: archivist, out of the local tarball", in_archivist),
            ("  before each: git-annex's MD5 of the last, bookkeeping", between),
        ]
    for _, asked, done in tarball:
        steps.append(("the tarball again, through uncurl (there already: dropped)", done - asked))
    last = max(done for _, _, done in transfers)
    steps += [("end: git-annex branch commit, stop", end - last), ("all", end - start)]
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--big-mb", type=int, default=260)
    parser.add_argument("--only", choices=["generation", "retrieval"])
    parser.add_argument("--jobs", type=int, default=1, help="datalad get -J")
    args = parser.parse_args()
    if args.only != "retrieval":
        generation(args.files)
    if args.only != "generation":
        retrieval(args.big_mb, args.jobs)


if __name__ == "__main__":
    main()
