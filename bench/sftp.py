"""SFTP puts: one 1 GiB file, then 2000 small files (``put *`` in a folder), by OpenSSH's
``sftp`` client into a drop account of scandepot's SFTP server, and the same into
OpenSSH's own ``sftp-server``, in one run: run by sshd on a loopback port (the peer, both
sides encrypted alike), and over a pipe (``sftp -D``: no SSH at all, for reference). The
ratio is scandepot's rate over the peer's. Figures for docs/benchmarks.md ("SFTP").

    .venv/bin/python bench/sftp.py [--big-mib 1024] [--small 2000] [--small-kib 16] [--runs 3]

scandepot's side does what a drop always does: each file staged, hashed (MD5, SHA-256,
CRC-32) and given its name before its close is answered, then fsynced and catalogued
(SQLite in a temporary data folder) by the settler in batches: the time until the last
file is catalogued is measured too ("settled"). sftp-server writes the bytes and nothing
else. Both fsync each file before answering when the client asks (``put -f``,
fsync@openssh.com): measured as well. Needs
Debian's openssh-server (sshd, not started as a service: scripts/ensure-services.sh) and
root (sshd signs in the user running it with a key made here). Not part of the test
suite; only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import asyncssh
from sqlalchemy import delete

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.drops import DropItem
from scandepot.cli.common import open_context
from scandepot.context import Context
from scandepot.ingest import drop_accounts, drops
from scandepot.ingest.drop_accounts import DropAccountCreate
from scandepot.settings import Settings
from scandepot.sftp.server import SftpServer

SFTP = "/usr/bin/sftp"
SSHD = "/usr/sbin/sshd"
PEER = "/usr/lib/openssh/sftp-server"
MiB = 1024 * 1024


def _make_data(folder: Path, big_mib: int, small: int, small_kib: int) -> None:
    block = os.urandom(MiB)
    with open(folder / "big.bin", "wb") as fh:
        for i in range(big_mib):
            fh.write(block[i % 251 :] + block[: i % 251])
    (folder / "small").mkdir()
    for i in range(small):
        (folder / "small" / f"f{i:05d}.dat").write_bytes(os.urandom(small_kib * 1024))


def _ssh_command(port: int, key: Path, user: str) -> list[str]:
    return [
        SFTP,
        "-q",
        "-b",
        "-",
        "-P",
        str(port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "IdentitiesOnly=yes",
        "-i",
        str(key),
        f"{user}@127.0.0.1",
    ]


def _sshd(root: Path, peer_dir: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """sshd on a free loopback port, its sftp subsystem writing into ``peer_dir``."""
    for name in ("host_key", "peer_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True
        )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"AuthorizedKeysFile {root / 'peer_key.pub'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PidFile {root / 'sshd.pid'}\nSubsystem sftp {PEER} -d {peer_dir}\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port, root / "peer_key"
        time.sleep(0.05)
    process.kill()
    raise SystemExit("sshd did not start")


def _timed(command: list[str], script: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, input=script, text=True, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def _scandepot(root: Path) -> tuple[Context, SftpServer, Path, str]:
    data = root / "scandepot-data"
    ctx = open_context(Settings(data_dir=data, admin_password="x" * 12))
    projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH"))
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = root / "id_ed25519"
    key_path.write_bytes(key.export_private_key("openssh"))
    key_path.chmod(0o600)
    line = key.export_public_key("openssh").decode().strip()
    data_ = DropAccountCreate(name="console", public_keys=[line])
    view, _ = drop_accounts.create(ctx, SYSTEM, "BENCH", data_)
    return ctx, SftpServer(ctx, port=0).start(), key_path, view.username


def _clear(folder: Path) -> None:
    for entry in folder.iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _run(args: argparse.Namespace, root: Path) -> dict[str, list[float]]:
    source = root / "source"
    source.mkdir()
    _make_data(source, args.big_mib, args.small, args.small_kib)
    ctx, server, key, user = _scandepot(root)
    peer_dir = root / "peer"
    peer_dir.mkdir()
    sshd, port, peer_key = _sshd(root, peer_dir)
    sides = {
        "scandepot": (_ssh_command(server.port, key, user), drops.project_dir(ctx, "BENCH")),
        "sshd": (_ssh_command(port, peer_key, getpass.getuser()), peer_dir),
        "pipe": ([SFTP, "-q", "-b", "-", "-D", f"{PEER} -d {peer_dir}"], peer_dir),
    }
    times: dict[str, list[float]] = {}
    try:
        for run in range(args.runs):
            for name, (command, where) in sides.items():
                for what, script in (
                    ("big", f"put big.bin big{run}.bin\n"),
                    ("small", f"mkdir s{run}\ncd s{run}\nlcd small\nput *\n"),
                    ("small fsync", f"mkdir f{run}\ncd f{run}\nlcd small\nput -f *\n"),
                ):
                    start = time.perf_counter()
                    times.setdefault(f"{name} {what}", []).append(_timed(command, script, source))
                    if name == "scandepot":
                        assert server.settler.wait(timeout=600), "the settler did not finish"
                        settled = time.perf_counter() - start
                        times.setdefault(f"{name} {what} settled", []).append(settled)
                _forget_drops(ctx)
                _clear(where)
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)
        server.stop()
        ctx.close()
    return times


def _forget_drops(ctx: Context) -> None:
    with ctx.db.write() as db:
        db.execute(delete(DropItem))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--small-kib", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sftp-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        times = _run(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    big_mib, n = args.big_mib, args.small
    print(
        f"{args.runs} run(s), medians: 1 file of {big_mib} MiB; {n} files of {args.small_kib} KiB"
    )

    def rates(name: str) -> tuple[float, float, float]:
        big, small, synced = (
            statistics.median(times[f"{name} {what}"]) for what in ("big", "small", "small fsync")
        )
        return big_mib / big, n / small, n / synced

    ours = rates("scandepot")
    settled = n / statistics.median(times["scandepot small settled"])
    print(f"{'':24} {'1 file MiB/s':>14} {'small files/s':>14} {'put -f files/s':>15}")
    for name in ("scandepot", "sshd", "pipe"):
        big, small, synced = rates(name)
        print(f"{name:24} {big:14.1f} {small:14.1f} {synced:15.1f}")
    print(f"{'scandepot, catalogued':24} {'':14} {settled:14.1f}")
    peer = rates("sshd")
    ratios = [f"{a / b:.2f}" for a, b in zip(ours, peer, strict=True)]
    print(f"{'ratio scandepot / sshd':24} {ratios[0]:>14} {ratios[1]:>14} {ratios[2]:>15}")
    print(f"{'ratio catalogued / sshd':24} {'':14} {settled / peer[1]:14.2f}")


if __name__ == "__main__":
    main()
