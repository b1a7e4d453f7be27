"""Where the CPU goes while scandepot (or Orthanc) takes C-STORE: one run of the four
associations case of dicom_store.py, with the processor time of every process read from
/proc before and after it, so that a change can be judged on a shared machine by the
time it costs per instance rather than by a rate that the machine's other work moves.

    .venv/bin/python bench/dicom_store_cpu.py [--peer orthanc] [--processes 2] [--sqlite]
                                               [--without-flushes]

``--without-flushes`` runs the receiver with libeatmydata preloaded (Debian's
``eatmydata``), so that its fsync and fdatasync calls return at once: what the flushes
cost, measured rather than guessed. PostgreSQL's own flushes of its log stay.

Prints the rate, the machine's busy and idle time, and per instance: storescu's time,
the receiver's processes (each), its PostgreSQL backends and the busiest other
processes (other work on the machine shows there). Run as root, like dicom_store.py.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes.util
import os
import resource
import subprocess
import time
from contextlib import closing
from pathlib import Path

from dicom_store import (
    SCANDEPOT_PORT,
    Scratch,
    make_instances,
    postgres,
    prepare_catalog,
    send,
    start_scandepot,
    stop,
)
from orthanc import ORTHANC_PORT, Namespace, start_orthanc

from scandepot.dicom.synthetic import Study

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> tuple[float, str] | None:
    """Seconds of processor time (user and system) of ``pid``, and its name."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK, stat[stat.index("(") + 1 : stat.rindex(")")]


def snapshot() -> tuple[dict[int, tuple[float, str]], list[float]]:
    """Every process's time, and the machine's (user, nice, system, idle, iowait, ...)."""
    processes = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := cpu_of(int(entry))) is not None:
            processes[int(entry)] = found
    machine = [int(x) / TICK for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return processes, machine


def family(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found = [pid]
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for child in children.stdout.split():
        found += family(int(child))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", choices=("scandepot", "orthanc"), default="scandepot")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--sqlite", action="store_true", help="the SQLite catalog")
    parser.add_argument("--without-flushes", action="store_true", help="the receiver's fsyncs off")
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/sdbench"))
    parser.add_argument("--scratch", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--pg-socket", type=Path, default=Path("/var/run/postgresql"))
    args = parser.parse_args()
    n = args.instances
    if args.without_flushes:
        preload = ctypes.util.find_library("eatmydata")
        if preload is None:
            raise SystemExit("--without-flushes needs libeatmydata: apt-get install eatmydata")
        os.environ["LD_PRELOAD"] = preload  # the receiver inherits it, storescu too (unused)
    study = Study(StudyDescription="xnat://BENCH/s1/e1")
    files = make_instances(args.work / "big", n, 256, study)
    with (
        Namespace("sdcpu") as ns,
        closing(Scratch(args.scratch)) as scratch,
        contextlib.ExitStack() as stack,
    ):
        run = scratch.run()
        if args.peer == "orthanc":
            proc = start_orthanc(run, ns)
            port, aet = ORTHANC_PORT, "ORTHANC"
        else:
            url = None if args.sqlite else stack.enter_context(postgres(args.pg_socket))
            prepare_catalog(run / "data", url).close()
            proc = start_scandepot(ns, run / "data", args.processes, url)
            port, aet = SCANDEPOT_PORT, "SCANDEPOT"
        try:
            time.sleep(1)  # after the receiver answered: most of its own start is over
            ours = family(proc.pid)
            load = Path("/proc/loadavg").read_text().strip()
            before, machine_before = snapshot()
            children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds = send(ns, port, aet, files, 4)
            after, machine_after = snapshot()
            children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        finally:
            stop(proc)
    ms = 1000 / n
    flushes = " without its flushes" if args.without_flushes else ""
    rate = f"{n / seconds:.1f} instances/s in {seconds:.2f} s"
    print(f"{args.peer}{flushes}: {rate} (load before: {load})")
    spent = [b - a for a, b in zip(machine_before, machine_after, strict=False)]
    busy = sum(spent[:8]) - spent[3] - spent[4]
    print(f"machine: busy {busy:.2f} s, idle {spent[3]:.2f} s, iowait {spent[4]:.2f} s")
    storescu = sum(
        getattr(children_after, f) - getattr(children_before, f) for f in ("ru_utime", "ru_stime")
    )
    print(f"  {'storescu':28s} {storescu:6.2f} s {storescu * ms:6.3f} ms/instance")
    groups: dict[str, list[float]] = {}
    for pid, (cpu, name) in after.items():
        used = cpu - before.get(pid, (0.0, name))[0]
        if used > 0:
            label = f"receiver {pid}" if pid in ours else name
            groups.setdefault(label, []).append(used)
    ranked = sorted(groups.items(), key=lambda item: -sum(item[1]))
    for label, used in ranked[:8]:
        total = sum(used)
        print(f"  {label:28s} {total:6.2f} s {total * ms:6.3f} ms/instance ({len(used)} processes)")


if __name__ == "__main__":
    main()
