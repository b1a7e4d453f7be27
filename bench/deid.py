"""The confidentiality profile (basic, no option) against dicognito, same files, same run;
figures for docs/benchmarks.md ("De-identification").

The files: ``--instances`` MR instances made from heudiconv's real Siemens headers (its
test data, CSA private headers included) with 256 x 256 x 16-bit pixel data (131,072
bytes), each with its own SOP Instance UID, written by pydicom into a temporary folder.

Each side de-identifies every file into a file beside it on the same disk, one process:

- scandepot: ``engine.deidentify_file`` (read, the profile, the verification, written
  into a ``StagedFile``, ended; not fsynced or published, which archiving does anyway);
- dicognito 0.19.0 (PyPI, installed with ``pip install --no-deps --target`` into a cache
  folder on first use, running on this environment's pydicom): ``dcmread``,
  ``Anonymizer().anonymize``, ``save_as``.

Each side runs ``--repeat`` times, alternating which goes first; the table gives each
side's median milliseconds per instance and the median of the pairs' ratios.
``--profile`` runs scandepot once more under cProfile and prints where the time went.

    .venv/bin/python bench/deid.py [--instances 2000] [--repeat 3] [--profile]

Not part of the test suite; nothing is contacted but PyPI (once, for dicognito).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom import dcmread

DICOGNITO = "dicognito==0.19.0"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
CACHE = Path(tempfile.gettempdir()) / "scandepot-bench-dicognito"


def dicognito_path() -> None:
    if not (CACHE / "dicognito").is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
            + ["--target", str(CACHE), DICOGNITO],
            check=True,
        )
    sys.path.insert(0, str(CACHE))


def heudiconv_headers() -> list[Path]:
    spec = importlib.util.find_spec("heudiconv")
    assert spec is not None and spec.submodule_search_locations, "heudiconv is not installed"
    folder = Path(next(iter(spec.submodule_search_locations))) / "tests" / "data"
    # Single-frame MR Image Storage, the archive's everyday instance (the enhanced
    # multi-frame file and the Phoenix document are left out).
    return [
        path
        for path in sorted(folder.rglob("*.dcm"))
        if dcmread(path, stop_before_pixels=True).get("SOPClassUID") == MR_IMAGE
    ]


def make_files(folder: Path, count: int) -> list[Path]:
    headers = [dcmread(path) for path in heudiconv_headers()]
    rng = np.random.default_rng(7)
    files = []
    for i in range(count):
        ds = headers[i % len(headers)]
        ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 256, 256, 16, 12, 11
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelRepresentation = 0
        ds.PixelData = rng.integers(0, 4096, (256, 256), dtype=np.uint16).tobytes()
        ds.SOPInstanceUID = f"{ds.SeriesInstanceUID}.{i + 1}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        path = folder / f"in{i:05}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


def scandepot_side(files: list[Path], out: Path) -> None:
    from scandepot.deid import engine, profile
    from scandepot.deid.model import Keys, Run
    from scandepot.storage.store import StagedFile

    script, run = profile.load('{"options": []}'), Run(Keys(b"bench secret"))
    for i, path in enumerate(files):
        staged = StagedFile(out / f"{i:05}.tmp", hashed=False)
        engine.deidentify_file(script, run, path, staged)
        staged.end()


def dicognito_side(files: list[Path], out: Path) -> None:
    from dicognito.anonymizer import Anonymizer  # type: ignore[import-not-found]

    anonymizer = Anonymizer()
    with warnings.catch_warnings():  # its dummy names outgrow SH: pydicom says so each time
        warnings.simplefilter("ignore", UserWarning)
        for i, path in enumerate(files):
            ds = dcmread(path)
            anonymizer.anonymize(ds)
            ds.save_as(out / f"{i:05}.dcm")


def timed(
    side: Callable[[list[Path], Path], None], files: list[Path], root: Path
) -> tuple[float, float]:
    """Milliseconds per instance: wall time, and this process's CPU time (what the
    machine's other load does not inflate as much)."""
    out = Path(tempfile.mkdtemp(dir=root))
    start, cpu = time.perf_counter(), os.times()
    side(files, out)
    elapsed, end = time.perf_counter() - start, os.times()
    shutil.rmtree(out)
    user, system = end.user - cpu.user, end.system - cpu.system
    print(
        f"  {side.__name__}: {user / len(files) * 1000:.3f} ms user, "
        f"{system / len(files) * 1000:.3f} ms system CPU per instance"
    )
    return elapsed / len(files) * 1000, (user + system) / len(files) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    dicognito_path()
    root = Path(tempfile.mkdtemp(prefix="sdbench-deid-"))
    try:
        files = make_files(root, args.instances)
        size = files[0].stat().st_size
        print(f"{len(files)} instances of {size / 1000:.0f} kB in {root}")
        ours, theirs, ratios, cpus = [], [], [], []
        for round_ in range(args.repeat):
            pair, cpu = {}, {}
            order = ("scandepot", "dicognito") if round_ % 2 == 0 else ("dicognito", "scandepot")
            for name in order:
                side = scandepot_side if name == "scandepot" else dicognito_side
                pair[name], cpu[name] = timed(side, files, root)
            ours.append(pair["scandepot"])
            theirs.append(pair["dicognito"])
            ratios.append(pair["dicognito"] / pair["scandepot"])
            cpus.append(cpu["scandepot"])
            print(
                f"round {round_ + 1}: scandepot {pair['scandepot']:.3f} ms "
                f"({cpu['scandepot']:.3f} ms CPU), dicognito {pair['dicognito']:.3f} ms "
                f"({cpu['dicognito']:.3f} ms CPU), ratio {ratios[-1]:.2f}, "
                f"load average {os.getloadavg()[0]:.1f}"
            )
        print("| Case | scandepot ms/instance | dicognito ms/instance | ratio | the pairs |")
        print("|---|---|---|---|---|")
        print(
            f"| basic profile, {len(files)} x {size / 1000:.0f} kB | "
            f"{statistics.median(ours):.3f} | {statistics.median(theirs):.3f} | "
            f"**{statistics.median(ratios):.2f}** | {', '.join(f'{r:.2f}' for r in ratios)} |"
        )
        print(f"scandepot CPU per instance, median: {statistics.median(cpus):.3f} ms")
        if args.profile:
            profiler = cProfile.Profile()
            out = Path(tempfile.mkdtemp(dir=root))
            profiler.runcall(scandepot_side, files, out)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
