"""Archive download throughput against reading the same files with ``cat``, same run.

Builds a session of ``--instances`` files of ``--size`` bytes (default 2000 x 130 kB,
about 260 MB) in a fresh data folder, starts ``scandepot serve`` on 127.0.0.1, warms the
page cache, then for tar and zip measures with ``curl`` over loopback: time to first
byte, MB/s, and the server's peak resident memory above what it held before the
download (VmHWM - VmRSS from /proc). The peer, ``cat FILES > /dev/null``, is measured in
the same run; the ratio is download MB/s over cat MB/s. Each figure is the median of
``--repeat`` runs.

    .venv/bin/python bench/download_throughput.py [--instances 2000] [--size 130000]

Not part of the test suite. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import PASSWORD, proc_kb, reset_peak, serve, server_env


def build(data_dir: Path, instances: int, size: int) -> list[Path]:
    """The session, through the services (durable writes, catalog rows), as an upload
    would leave it."""
    from scandepot.access.actors import SYSTEM
    from scandepot.archive import files, projects, scans, sessions, subjects
    from scandepot.archive.projects import ProjectCreate
    from scandepot.archive.resources import OwnerRef
    from scandepot.archive.scans import ScanCreate
    from scandepot.archive.sessions import SessionCreate
    from scandepot.archive.subjects import SubjectCreate
    from scandepot.cli.common import open_context
    from scandepot.settings import Settings

    ctx = open_context(Settings(data_dir=data_dir))
    projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH"))
    subjects.create(ctx, SYSTEM, "BENCH", SubjectCreate(label="S1"))
    sessions.create(ctx, SYSTEM, "BENCH", SessionCreate(label="E1", subject="S1"))
    per_scan = 200
    for start in range(0, instances, per_scan):
        scan = str(start // per_scan + 1)
        scans.create(ctx, SYSTEM, "BENCH", "E1", ScanCreate(id=scan, type="EPI"))
        ref = OwnerRef("BENCH", session="E1", scan=scan)
        for i in range(start, min(start + per_scan, instances)):
            with ctx.store.stage() as staged:
                staged.write(os.urandom(size))
                files.commit_upload(ctx, SYSTEM, ref, "DICOM", f"{i:06d}.dcm", staged)
    ctx.close()
    return sorted(p for p in (data_dir / "archive").rglob("*.dcm"))


def cat_rate(paths: list[Path], total: int) -> float:
    start = time.perf_counter()
    subprocess.run(["cat", *map(str, paths)], stdout=subprocess.DEVNULL, check=True)
    return total / (time.perf_counter() - start) / 1e6


def curl(url: str) -> tuple[float, int, float]:
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "--fail",
            "-u",
            f"admin:{PASSWORD}",
            "-o",
            "/dev/null",
            "-w",
            "%{time_starttransfer} %{size_download} %{time_total}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--size", type=int, default=130_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="scandepot-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        paths = build(data_dir, args.instances, args.size)
        total = sum(p.stat().st_size for p in paths)
        with serve(data_dir, server_env()) as (server, base):
            url = f"{base}/api/v1/projects/BENCH/sessions/E1/download"
            curl(f"{base}/api/v1/projects/BENCH/sessions/E1/manifest")  # warm the server
            cat_rate(paths, total)  # warm the page cache
            print(
                f"session: {len(paths)} files, {total / 1e6:.1f} MB; "
                f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
            )
            print(f"{'what':<8}{'MB/s':>10}{'ratio':>8}{'TTFB ms':>10}{'extra MB':>10}")
            for fmt in ("tar", "zip"):
                rates, cats, ttfbs, extras = [], [], [], []
                for _ in range(args.repeat):
                    cats.append(cat_rate(paths, total))
                    # Reset the peak to the present, so that VmHWM is this download's peak.
                    rss = reset_peak(server.pid)
                    ttfb, size, seconds = curl(f"{url}?format={fmt}")
                    extras.append((proc_kb(server.pid, "VmHWM") - rss) / 1024)
                    rates.append(size / seconds / 1e6)
                    ttfbs.append(ttfb * 1000)
                raw = statistics.median(cats)
                rate = statistics.median(rates)
                print(f"{'cat':<8}{raw:>10.0f}")
                print(
                    f"{fmt:<8}{rate:>10.0f}{rate / raw:>8.2f}{statistics.median(ttfbs):>10.0f}"
                    f"{max(extras):>10.1f}"
                )


if __name__ == "__main__":
    main()
