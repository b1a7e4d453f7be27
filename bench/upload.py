"""Upload throughput (import endpoint and ``scandepot upload``) against C-STORE, same run.

Writes a session of ``--instances`` MR instances of about 130 kB (256 x 256, 16 bits),
starts ``scandepot serve`` (SQLite catalog, DICOM receiver included) on 127.0.0.1 and
sends the same session three ways, each into a project of its own so that none finds
the others' instances: dcmtk's ``storescu`` over one association (the peer), one zip
through ``POST /api/v1/projects/{p}/import`` with ``curl``, and ``scandepot upload``
(four streams). Every way ends with the instances durable in the prearchive. Then a zip
of about ``--big-gb`` GB is imported while the server's peak resident memory is watched
(VmHWM after resetting it, minus VmRSS before, from /proc).

    .venv/bin/python bench/upload.py [--instances 2000] [--big-gb 2] [--repeat 3]

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

import httpx
from serving import HOST, PASSWORD, free_port, proc_kb, reset_peak, serve, server_env


def write_session(folder: Path, instances: int, *, start: int = 0) -> list[Path]:
    from scandepot.dicom.synthetic import Series, Study, mr_instance

    folder.mkdir(parents=True)
    study = Study(PatientName="Bench^Upload", PatientID=f"BENCH{start}")
    series = [Series(n, f"EPI {n}") for n in range(1, instances // 200 + 2)]
    paths = []
    for i in range(instances):
        ds = mr_instance(study, series[i // 200], i % 200 + 1, seed=i % 7)
        path = folder / f"{i:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def import_zip(base: str, project: str, body: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["curl", "-sS", "--fail-with-body", "-u", f"admin:{PASSWORD}", "-X", "POST"]
        + ["-H", "Content-Type: application/zip", "-T", str(body), "-o", "/dev/null"]
        + [f"{base}/api/v1/projects/{project}/import"],
        check=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--big-gb", type=float, default=2.0, help="0 to skip")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="scandepot-bench-") as tmp:
        root = Path(tmp)
        paths = write_session(root / "session", args.instances)
        total = sum(p.stat().st_size for p in paths)
        body = root / "session.zip"
        subprocess.run(["zip", "-q0r", str(body), "."], cwd=root / "session", check=True)
        dicom_port = free_port()
        projects = [f"R{r}{way}" for r in range(args.repeat) for way in ("CS", "IM", "CL")]
        env = server_env(
            SCANDEPOT_DICOM_PORT=str(dicom_port),
            SCANDEPOT_PREARCHIVE_QUIET_S="3600",
            SCANDEPOT_AE_PROJECTS="{" + ",".join(f'"{p}": "{p}"' for p in projects) + "}",
        )
        with serve(root / "data", env) as (server, base):
            auth = ("admin", PASSWORD)
            for p in projects + ["BIG"]:
                httpx.post(f"{base}/api/v1/projects", json={"id": p}, auth=auth).raise_for_status()
            token = httpx.post(
                f"{base}/api/v1/auth/tokens", json={"name": "bench"}, auth=auth
            ).json()["token"]
            cli_env = {**env, "SCANDEPOT_TOKEN": token, "SCANDEPOT_URL": base}
            print(
                f"session: {len(paths)} instances, {total / 1e6:.1f} MB; "
                f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
            )
            rates: dict[str, list[float]] = {
                "C-STORE (storescu)": [],
                "import (curl)": [],
                "scandepot upload": [],
            }
            extra: list[float] = []  # server memory above its level before each import
            for r in range(args.repeat):
                start = time.perf_counter()
                subprocess.run(
                    ["storescu", "-aet", "BENCH", "-aec", f"R{r}CS", HOST, str(dicom_port)]
                    + ["+sd", str(root / "session")],
                    env={**os.environ, "TCP_NODELAY": "1"},
                    check=True,
                )
                rates["C-STORE (storescu)"].append(time.perf_counter() - start)
                rss = reset_peak(server.pid)
                rates["import (curl)"].append(import_zip(base, f"R{r}IM", body))
                extra.append((proc_kb(server.pid, "VmHWM") - rss) / 1024)
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "scandepot", "upload", str(root / "session")]
                    + ["--project", f"R{r}CL"],
                    env=cli_env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                rates["scandepot upload"].append(time.perf_counter() - start)
            peer = statistics.median(rates["C-STORE (storescu)"])
            print(f"{'way':<22}{'seconds':>9}{'MB/s':>8}{'inst/s':>8}{'vs C-STORE':>12}")
            for way, seconds in rates.items():
                s = statistics.median(seconds)
                print(
                    f"{way:<22}{s:>9.1f}{total / s / 1e6:>8.1f}{len(paths) / s:>8.0f}"
                    f"{peer / s:>12.2f}"
                )
            print(f"server memory during the import of the session: +{max(extra):.0f} MiB")
            if args.big_gb > 0:
                count = int(args.big_gb * 1e9 / (total / len(paths)))
                big_paths = write_session(root / "big", count, start=1)
                big = root / "big.zip"
                subprocess.run(["zip", "-q0r", str(big), "."], cwd=root / "big", check=True)
                for p in big_paths:
                    p.unlink()
                rss = reset_peak(server.pid)
                seconds = import_zip(base, "BIG", big)
                peak = proc_kb(server.pid, "VmHWM")
                size = big.stat().st_size
                print(
                    f"big import: {size / 1e9:.2f} GB, {count} instances in {seconds:.0f} s "
                    f"({size / seconds / 1e6:.0f} MB/s); server RSS before {rss / 1024:.0f} MiB, "
                    f"peak {peak / 1024:.0f} MiB (+{(peak - rss) / 1024:.0f} MiB)"
                )


if __name__ == "__main__":
    main()
