"""What the HTTP benchmarks share: a `scandepot serve` of their own on 127.0.0.1, and the
server's memory read from /proc. Imported by the scripts beside it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HOST = "127.0.0.1"
PASSWORD = "bench-password-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def server_env(**settings: str) -> dict[str, str]:
    """This environment without any SCANDEPOT_ setting, plus the bench's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env.update(SCANDEPOT_ADMIN_PASSWORD=PASSWORD, SCANDEPOT_LOG_LEVEL="warning", **settings)
    return env


@contextmanager
def serve(
    data_dir: Path, env: dict[str, str], *, port: int | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`scandepot serve` on ``port`` (a free one by default), once it answers; its
    process and base URL."""
    port = port or free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "scandepot", "serve", "--data-dir", str(data_dir)]
        + ["--host", HOST, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://{HOST}:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield server, base
    finally:
        server.terminate()
        server.wait(timeout=60)


def proc_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def reset_peak(pid: int) -> int:
    """Reset the process's peak memory (VmHWM) to the present; returns VmRSS in kB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return proc_kb(pid, "VmRSS")
