"""xnatpy's ``download_dir`` of a session against ``scandepot download`` of the same
session, same run; figures for docs/benchmarks-xnat-files.md ("xnatpy download_dir").

Builds a session of ``--instances`` files of ``--size`` bytes (default 2000 x 130 kB, in
scans of 200, as bench/download_throughput.py builds it) in a fresh data folder and
starts ``scandepot serve`` on 127.0.0.1. Then, alternating, ``--repeat`` times each:

- xnatpy (signed in once, beforehand): ``experiment.download_dir(dest)``, which lists
  ``scans/ALL/files``, downloads ``scans/ALL/files?format=zip`` into a temporary file and
  unpacks it into ``dest``;
- the peer, ``scandepot download DEST --project BENCH --session E1`` (the CLI, called in
  this process as its entry point calls it, with an API token): the manifest, then every
  file fetched on its own (4 at once), written and verified against its SHA-256.

Each into an empty folder, the page cache warm. The figure is the median time; the ratio
is the CLI's time over xnatpy's (at least 0.8 is the target: xnatpy at least 0.8 times as
fast). Both folders are compared file by file once, byte for byte.

    .venv/bin/python bench/xnat_download.py [--instances 2000] [--size 130000] [--repeat 5]

Not part of the test suite. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from download_throughput import build, cat_rate
from serving import PASSWORD, serve, server_env

TARGET = 0.8


def token(base: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/tokens", json={"name": "bench"}, auth=("admin", PASSWORD))
    r.raise_for_status()
    return str(r.json()["token"])


def cli_download(base: str, token_file: Path, dest: Path) -> float:
    from typer.testing import CliRunner

    from scandepot.cli.main import app

    args = ["download", str(dest), "--project", "BENCH", "--session", "E1", "--url", base]
    start = time.perf_counter()
    result = CliRunner().invoke(app, [*args, "--token-file", str(token_file)])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    return seconds


def xnatpy_download(experiment: Any, dest: Path) -> float:
    start = time.perf_counter()
    experiment.download_dir(str(dest), verbose=False)
    return time.perf_counter() - start


def same_files(cli_dest: Path, xnat_dest: Path) -> bool:
    """Every file of the session in both folders, with the same bytes (by scan and name)."""

    def keyed(root: Path) -> dict[tuple[str, str], bytes]:
        found = {}
        for p in root.rglob("*.dcm"):
            scan = p.parts[p.parts.index("scans") + 1]  # {scan}-{type} in both layouts
            found[(scan, p.name)] = p.read_bytes()
        return found

    ours, theirs = keyed(cli_dest), keyed(xnat_dest)
    return bool(ours) and ours == theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--size", type=int, default=130_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import xnat

    logging.getLogger("xnat").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="scandepot-bench-") as tmp:
        root = Path(tmp)
        paths = build(root / "data", args.instances, args.size)
        total = sum(p.stat().st_size for p in paths)
        with serve(root / "data", server_env()) as (_server, base):
            token_file = root / "token"
            token_file.write_text(token(base))
            session = xnat.connect(base, user="admin", password=PASSWORD, loglevel="WARNING")
            experiment = session.projects["BENCH"].subjects["S1"].experiments["E1"]
            cat_rate(paths, total)  # warm the page cache
            print(
                f"session: {len(paths)} files, {total / 1e6:.1f} MB; "
                f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
            )
            theirs, ours = [], []
            for n in range(args.repeat + 1):  # the first round warms both, uncounted
                xnat_dest, cli_dest = root / f"xnat{n}", root / f"cli{n}"
                x = xnatpy_download(experiment, xnat_dest)
                c = cli_download(base, token_file, cli_dest)
                if n == 0:
                    assert same_files(cli_dest, xnat_dest), "the two downloads differ"
                else:
                    theirs.append(x)
                    ours.append(c)
                shutil.rmtree(xnat_dest)
                shutil.rmtree(cli_dest)
            session.disconnect()
    x, c = statistics.median(theirs), statistics.median(ours)
    print(f"{'what':<28}{'s':>8}{'MB/s':>8}")
    print(f"{'xnatpy download_dir':<28}{x:>8.2f}{total / x / 1e6:>8.0f}")
    print(f"{'scandepot download (CLI)':<28}{c:>8.2f}{total / c / 1e6:>8.0f}")
    verdict = "met" if c / x >= TARGET else "NOT met"
    print(f"ratio (CLI time / xnatpy time): {c / x:.2f}; target {TARGET}: {verdict}")


if __name__ == "__main__":
    main()
