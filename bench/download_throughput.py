"""Archive download throughput against reading the same files with ``cat``, same run.

Builds a session of ``--instances`` files of ``--size`` bytes (default 2000 x 130 kB,
about 260 MB) in a fresh data folder, starts ``scandepot serve`` on 127.0.0.1, warms the
page cache, then for tar and zip measures with ``curl`` over loopback: time to first
byte, MB/s, and the server's peak resident memory above what it held before the
download (VmHWM - VmRSS from /proc). The peer, ``cat FILES > /dev/null``, is measured in
the same run; the ratio is download MB/s over cat MB/s. Each figure is the median of
``--repeat`` runs.

tar.gz is measured against its own peer: the same server with the gzip compressor of
before (zlib, level 6) put back through a ``sitecustomize`` module, started after the
first; the ratio is the new rate over the old. The files are random bytes, which do not
compress: half of a real session's images do, see docs/benchmarks.md for both.

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


# Loaded by the peer server's interpreter at start-up (PYTHONPATH): tar.gz as it was made
# before python-isal, zlib's deflate at gzip's default level.
ZLIB_PEER = """
import zlib
from scandepot.export import archives
archives.gzip_compressor = lambda: zlib.compressobj(6, zlib.DEFLATED, 31)
"""


def measure(
    server: subprocess.Popen[bytes], url: str, repeat: int
) -> tuple[list[float], list[float], list[float]]:
    """Rates in MB/s, times to first byte in ms and extra peak memory in MB of ``repeat``
    downloads."""
    rates, ttfbs, extras = [], [], []
    for _ in range(repeat):
        # Reset the peak to the present, so that VmHWM is this download's peak.
        rss = reset_peak(server.pid)
        ttfb, size, seconds = curl(url)
        extras.append((proc_kb(server.pid, "VmHWM") - rss) / 1024)
        rates.append(size / seconds / 1e6)
        ttfbs.append(ttfb * 1000)
    return rates, ttfbs, extras


def row(what: str, rate: float, ratio: float, ttfbs: list[float], extras: list[float]) -> str:
    return (
        f"{what:<10}{rate:>10.0f}{ratio:>8.2f}{statistics.median(ttfbs):>10.0f}{max(extras):>10.1f}"
    )


def gzip_rates(data_dir: Path, repeat: int) -> None:
    """tar.gz from the server as it is and from the same server with zlib: one after the
    other, ``repeat`` times each, alternating."""
    path = "api/v1/projects/BENCH/sessions/E1/download?format=tar.gz"
    new: tuple[list[float], list[float], list[float]] = ([], [], [])
    old: tuple[list[float], list[float], list[float]] = ([], [], [])
    with tempfile.TemporaryDirectory(prefix="scandepot-zlib-") as peer_dir:
        Path(peer_dir, "sitecustomize.py").write_text(ZLIB_PEER)
        peer_env = server_env()
        peer_env["PYTHONPATH"] = os.pathsep.join(
            [peer_dir, *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        for _ in range(repeat):
            for env, into in ((peer_env, old), (server_env(), new)):
                with serve(data_dir, env) as (server, base):
                    curl(f"{base}/api/v1/projects/BENCH/sessions/E1/manifest")
                    for found, more in zip(into, measure(server, f"{base}/{path}", 1), strict=True):
                        found.extend(more)
    old_rate, new_rate = statistics.median(old[0]), statistics.median(new[0])
    print(row("tar.gz/zl", old_rate, 1.0, old[1], old[2]))
    print(row("tar.gz", new_rate, new_rate / old_rate, new[1], new[2]))
    print(f"tar.gz: {new_rate / old_rate:.1f} x the zlib rate (ratio column: against zlib)")


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
            print(f"{'what':<10}{'MB/s':>10}{'ratio':>8}{'TTFB ms':>10}{'extra MB':>10}")
            for fmt in ("tar", "zip"):
                rates, cats, ttfbs, extras = [], [], [], []
                for _ in range(args.repeat):
                    cats.append(cat_rate(paths, total))
                    rate, ttfb, extra = measure(server, f"{url}?format={fmt}", 1)
                    rates += rate
                    ttfbs += ttfb
                    extras += extra
                raw = statistics.median(cats)
                rate = statistics.median(rates)
                print(f"{'cat':<10}{raw:>10.0f}")
                print(row(fmt, rate, rate / raw, ttfbs, extras))
        gzip_rates(data_dir, args.repeat)


if __name__ == "__main__":
    main()
