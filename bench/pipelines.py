"""Pipeline benchmarks; figures for docs/benchmarks.md ("Pipelines").

1. dcm2niix through the pipeline (claim, run, publish into the archive, record) against
   bare dcm2niix on the same 2000-instance session, same options, same run. Target: the
   pipeline adds under 20 % wall time.
2. Quality metrics (mask, metrics, PNG) of a 256 x 256 x 192 structural image.
   Target: under 10 s.

Run: .venv/bin/python bench/pipelines.py [--repeat 3]
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

import nibabel as nib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pipelines.conftest import archive_session, enable  # noqa: E402
from tests.pipelines.dicom import phantom, write_series  # noqa: E402

from scandepot.access.actors import SYSTEM  # noqa: E402
from scandepot.cli.common import open_context  # noqa: E402
from scandepot.pipelines import builtin, dcm2niix, jobs, queue, runner  # noqa: E402
from scandepot.pipelines.config import check_parameters  # noqa: E402
from scandepot.pipelines.jobs import LaunchRequest  # noqa: E402
from scandepot.pipelines.qa.run import assess  # noqa: E402
from scandepot.settings import Settings  # noqa: E402


def session_series(root: Path) -> dict[str, list[Path]]:
    """2000 instances: a 256x256x200 T1 (200 files) and a 64x64x36 run of 50 volumes."""
    t1 = np.clip(phantom((256, 256, 200), signal=900, noise=25, seed=1) + 80, 0, None)
    bold = np.clip(phantom((64, 64, 36, 50), signal=900, noise=25, seed=2) + 80, 0, None)
    return {
        "1": write_series(root / "t1", t1.astype(np.uint16), series_number=1),
        "2": write_series(
            root / "bold", bold.astype(np.uint16), series_number=2, description="bold"
        ),
    }


def bare(source: Path, out: Path, parameters: dict[str, object]) -> float:
    """The peer: dcm2niix alone, one call over the whole session, same options."""
    out.mkdir(parents=True)
    env = {"HOME": str(out), "PATH": os.environ.get("PATH", "/usr/bin")}
    start = time.perf_counter()
    subprocess.run(dcm2niix.argv(parameters, source, out), check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def pipeline(ctx: object, count: int) -> float:
    from scandepot.context import Context

    assert isinstance(ctx, Context)
    job = jobs.launch(ctx, SYSTEM, "BENCH", "E1", LaunchRequest("dcm2niix"))
    start = time.perf_counter()
    token = queue.claim(ctx, job.id, "bench")
    assert token is not None
    status = runner.execute(
        ctx, job.id, token, pipelines=builtin.pipelines(), dispatch=lambda _ids: None
    )
    elapsed = time.perf_counter() - start
    assert status.value == "succeeded", jobs.get(ctx, SYSTEM, "BENCH", job.id).message
    return elapsed


def runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("writing 2000 synthetic instances ...", flush=True)
        series = session_series(root / "dicom")
        count = sum(len(v) for v in series.values())
        ctx = open_context(Settings(data_dir=root / "data"))
        archive_session(ctx, series, project="BENCH")
        enable(ctx, "BENCH", "dcm2niix", auto=False)
        parameters = check_parameters("dcm2niix", {})
        session_dicom = ctx.store.archive / "BENCH/subjects/S1/sessions/E1/scans"
        bare_times, pipe_times = [], []
        pipeline(ctx, count)  # warm the file cache and imports once, for both
        for i in range(args.repeat):
            # Interleaved, so that both see the same machine state.
            bare_times.append(bare(session_dicom, root / f"bare{i}", parameters))
            pipe_times.append(pipeline(ctx, count))
        b, p = statistics.median(bare_times), statistics.median(pipe_times)
        print(f"dcm2niix {dcm2niix.version()}, {count} instances, median of {args.repeat}:")
        print(f"  bare dcm2niix (peer):   {b:7.2f} s   runs: {runs(bare_times)}")
        print(f"  dcm2niix pipeline job:  {p:7.2f} s   runs: {runs(pipe_times)}")
        overhead = 100 * (p / b - 1)
        print(
            f"  ratio pipeline / bare:  {p / b:7.3f}   overhead {overhead:+.1f} % (target < +20 %)"
        )
        ctx.close()

        image = phantom((256, 256, 192), signal=900, noise=25, seed=3) + 80
        path = root / "t1.nii.gz"
        nib.save(nib.Nifti1Image(image.astype(np.int16), np.eye(4)), path)
        qa_params = check_parameters("qa", {})
        times = []
        for i in range(args.repeat):
            out = root / f"qa{i}"
            out.mkdir()
            start = time.perf_counter()
            assess(path, qa_params, out)
            times.append(time.perf_counter() - start)
        print(f"quality metrics, 256x256x192 structural, median of {args.repeat}:")
        print(f"  {statistics.median(times):.2f} s   runs: {runs(times)}   (target < 10 s)")


if __name__ == "__main__":
    main()
