"""DICOMweb of scandepot against Orthanc 1.10 with its DICOMweb plug-in, in one run.

Both servers run inside a private network namespace made for the run (Orthanc listens on
every interface); the script re-runs itself inside it. Run as root:

    .venv/bin/python bench/dicomweb.py [--instances 2000] [--studies 10000]
        [--catalog-instances 1000000] [--repeat 3] [--skip-stow] [--skip-qido]
        [--database-url "postgresql+psycopg://postgres@/qidobench?host=/var/run/postgresql"]

- STOW-RS: ``--instances`` MR instances of 130 KB, 100 to a request, sent with curl from
  bodies made beforehand, to each server on empty storage; instances per second.
- WADO-RS: the stored series retrieved whole (multipart/related, read by curl), MB/s,
  against ``cat`` of scandepot's files, against Orthanc, and against the loopback's
  ceiling (the same bytes as one file, one sendfile call, to the same curl); the
  server's peak memory above what it held before; series metadata, median ms.
- QIDO-RS: a study search (patient name wildcard, date range, modality) over
  ``--studies`` studies, median ms of 30; scandepot's catalog bulk-loaded with
  ``--catalog-instances`` instance rows as well, Orthanc holding one instance a study
  (storing a million instances in Orthanc takes hours); see docs/benchmarks.md.

Not part of the test suite. Only the namespace's loopback is ever contacted.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from dicom_store import make_instances
from orthanc import ORTHANC_HTTP_PORT, Namespace, start_orthanc, wait_http
from serving import PASSWORD, proc_kb, reset_peak, serve, server_env

from scandepot.dicom.synthetic import Study

ORTHANC = f"http://127.0.0.1:{ORTHANC_HTTP_PORT}"
BOUNDARY = "sdbenchboundary0123456789"
PER_REQUEST = 100


def bodies(files: list[Path], folder: Path) -> list[Path]:
    """multipart/related bodies of PER_REQUEST instances each, written once."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for start in range(0, len(files), PER_REQUEST):
        body = folder / f"{start:06d}.multipart"
        with body.open("wb") as out:
            for path in files[start : start + PER_REQUEST]:
                out.write(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
                out.write(path.read_bytes())
                out.write(b"\r\n")
            out.write(f"--{BOUNDARY}--\r\n".encode())
        made.append(body)
    return made


# scandepot's requests carry a token, as scripts' do (HTTP Basic would check the password's
# hash on every request); set once the server runs.
TOKEN: list[str] = []


def curl(url: str, *extra: str, auth: bool = False) -> tuple[int, float]:
    """Bytes received and seconds taken."""
    argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %{time_total}"]
    if auth:
        argv += ["-H", f"authorization: Bearer {TOKEN[-1]}"]
    out = subprocess.run([*argv, *extra, url], capture_output=True, text=True, check=True)
    size, seconds = out.stdout.split()
    return int(size), float(seconds)


def stow(root: str, sent: list[Path], auth: bool) -> float:
    """Instances per second for every body, one request after the other."""
    media = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
    start = time.perf_counter()
    for body in sent:
        curl(
            f"{root}/studies",
            "-X",
            "POST",
            "-H",
            f"content-type: {media}",
            "-H",
            "accept: application/dicom+json",
            "--data-binary",
            f"@{body}",
            auth=auth,
        )
    return len(sent) * PER_REQUEST / (time.perf_counter() - start)


def retrieve(
    root: str, study: str, series: str, auth: bool, pid: int | None
) -> tuple[float, float | None]:
    """MB/s of the whole series as multipart/related, and the server's extra peak MB."""
    rss = reset_peak(pid) if pid else None
    size, seconds = curl(
        f"{root}/studies/{study}/series/{series}",
        "-H",
        'accept: multipart/related; type="application/dicom"',
        auth=auth,
    )
    extra = (proc_kb(pid, "VmHWM") - rss) / 1024 if pid and rss is not None else None
    return size / seconds / 1e6, extra


def median_ms(url: str, auth: bool, times: int, *extra: str) -> float:
    spent = [curl(url, *extra, auth=auth)[1] * 1000 for _ in range(times)]
    return statistics.median(spent)


def cat_rate(paths: list[Path]) -> float:
    total = sum(p.stat().st_size for p in paths)
    start = time.perf_counter()
    subprocess.run(["cat", *map(str, paths)], stdout=subprocess.DEVNULL, check=True)
    return total / (time.perf_counter() - start) / 1e6


def ceiling_rate(paths: list[Path], folder: Path) -> float:
    """MB/s of the same bytes as one file sent by one sendfile call to curl over the
    loopback: what TCP on this machine allows, with no per-file or HTTP work at all."""
    whole = folder / "series.bin"
    with whole.open("wb") as out:
        for path in paths:
            out.write(path.read_bytes())
    size = whole.stat().st_size
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        with conn, whole.open("rb") as f:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            conn.sendfile(f)

    thread = threading.Thread(target=answer)
    thread.start()
    got, seconds = curl(f"http://127.0.0.1:{port}/")
    thread.join()
    server.close()
    whole.unlink()
    return got / seconds / 1e6


def stored_files(data: Path) -> list[Path]:
    return sorted(p for p in (data / "archive").rglob("*") if p.is_file() and "DICOM" in p.parts)


def stow_and_wado(args: argparse.Namespace, work: Path, run: Path) -> None:
    study = Study(StudyDescription="bench")
    files = make_instances(work / "big", args.instances, 256, study)
    sent = bodies(files, work / f"bodies-{args.instances}")
    import pydicom

    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    uids = (first.StudyInstanceUID, first.SeriesInstanceUID)
    figures: dict[str, list[float]] = {}

    def add(name: str, figure: float) -> None:
        figures.setdefault(name, []).append(figure)

    for round_ in range(args.repeat):
        with ExitStack() as stack:
            orthanc = start_orthanc(run / f"orthanc{round_}", dicomweb=True)
            stack.callback(lambda p=orthanc: (p.terminate(), p.wait()))
            wait_http(f"{ORTHANC}/system")
            data = run / f"scandepot{round_}"
            server, base = stack.enter_context(serve(data, server_env()))
            made = httpx.post(
                f"{base}/api/v1/projects",
                auth=("admin", PASSWORD),
                json={"id": "BENCH", "upload_destination": "archive"},
            )
            made.raise_for_status()
            token = httpx.post(
                f"{base}/api/v1/auth/tokens", auth=("admin", PASSWORD), json={"name": "bench"}
            )
            TOKEN.append(token.json()["token"])
            root, theirs = f"{base}/dicomweb/projects/BENCH", f"{ORTHANC}/dicom-web"
            add("stow orthanc", stow(theirs, sent, False))
            add("stow scandepot", stow(root, sent, True))
            wait_archived(root, uids[0], args.instances)
            # What a viewer asks first; it also waits for the series' metadata, which the
            # server builds once a session is archived (docs/dicomweb.md, Metadata).
            meta = f"/studies/{uids[0]}/series/{uids[1]}/metadata"
            add("metadata first scandepot", curl(root + meta, auth=True)[1] * 1000)
            paths = stored_files(data)
            cat_rate(paths)  # warm the page cache for both
            add("cat", statistics.median(cat_rate(paths) for _ in range(5)))
            add("loopback ceiling", statistics.median(ceiling_rate(paths, run) for _ in range(5)))
            # Five retrievals of each, in turn (one lasts a fifth of a second): the median.
            theirs_rates, ours_rates, extras = [], [], []
            for _ in range(5):
                theirs_rates.append(retrieve(theirs, *uids, False, None)[0])
                rate, extra = retrieve(root, *uids, True, server.pid)
                ours_rates.append(rate)
                extras.append(extra or 0.0)
            add("wado orthanc", statistics.median(theirs_rates))
            add("wado scandepot", statistics.median(ours_rates))
            add("wado scandepot extra MB", max(extras))
            add("metadata scandepot", median_ms(root + meta, True, 5))
            add("metadata orthanc", median_ms(theirs + meta, False, 5))
        for name, values in figures.items():
            print(f"  round {round_ + 1}: {name:28s} {values[-1]:10.1f}", flush=True)
    report(figures)


def wait_archived(root: str, study: str, count: int) -> None:
    """Until the study's series hold ``count`` archived instances (QIDO's counts)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        r = httpx.get(f"{root}/studies/{study}/series", auth=("admin", PASSWORD), timeout=60)
        held = sum(s["00201209"]["Value"][0] for s in r.json()) if r.status_code == 200 else 0
        if held >= count:
            return
        time.sleep(0.5)
    raise RuntimeError("the stored study was not archived in time")


def report(figures: dict[str, list[float]]) -> None:
    m = {k: statistics.median(v) for k, v in figures.items()}
    print(f"\nmedians of {len(figures['cat'])} rounds (ratios of each round's pair)")
    pairs = [
        ("STOW-RS instances/s", "stow scandepot", "stow orthanc"),
        ("WADO-RS series MB/s vs Orthanc", "wado scandepot", "wado orthanc"),
        ("WADO-RS series MB/s vs cat", "wado scandepot", "cat"),
        ("WADO-RS series MB/s vs ceiling", "wado scandepot", "loopback ceiling"),
        ("loopback ceiling MB/s vs cat", "loopback ceiling", "cat"),
        ("series metadata ms vs Orthanc", "metadata scandepot", "metadata orthanc"),
    ]
    for label, ours, theirs in pairs:
        ratios = [a / b for a, b in zip(figures[ours], figures[theirs], strict=True)]
        print(
            f"{label:34s} {m[ours]:10.1f} {m[theirs]:10.1f} ratio {statistics.median(ratios):5.2f}"
        )
    print(f"{'series metadata, first request ms':34s} {m['metadata first scandepot']:10.1f}")
    print(f"{'WADO-RS server extra peak MB':34s} {max(figures['wado scandepot extra MB']):10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--studies", type=int, default=10000)
    parser.add_argument("--catalog-instances", type=int, default=1000000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sdbench")
    parser.add_argument("--skip-qido", action="store_true")
    parser.add_argument("--skip-stow", action="store_true", help="QIDO-RS only")
    parser.add_argument(
        "--database-url",
        help="the QIDO-RS catalog on PostgreSQL (an empty database; by its Unix socket, which "
        "the namespace reaches), not SQLite",
    )
    args = parser.parse_args()
    if "SDBENCH_INSIDE" not in os.environ:
        with Namespace("sddw") as ns:
            env = {**os.environ, "SDBENCH_INSIDE": "1"}
            raise SystemExit(
                subprocess.run(ns.cmd([sys.executable, *sys.argv]), env=env).returncode
            )
    args.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="sddw-") as run:
        if not args.skip_stow:
            stow_and_wado(args, args.work, Path(run))
        if not args.skip_qido:
            from dicomweb_qido import qido_latency

            qido_latency(args, Path(run))


if __name__ == "__main__":
    main()
