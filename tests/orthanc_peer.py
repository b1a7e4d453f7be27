"""Orthanc 1.10 with Debian's DICOMweb plug-in, as a real peer: the DICOMweb server of the
STOW-RS and reference tests, and the reference node that pushes send to.

Its HTTP server answers loopback only (``RemoteAccessAllowed`` off). Its DICOM server is
off unless asked for: Orthanc 1.10 cannot bind it to the loopback alone, so it listens
on every interface, and the tests address it on 127.0.0.1 only. Each start is on empty
storage of the test's own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ORTHANC = "/usr/sbin/Orthanc"
AE_TITLE = "REFERENCE"
TRIES = 3  # starts on fresh ports when another process took one first
LISTEN = "0A"  # the state of a listening socket in /proc/net/tcp


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Orthanc(httpx.Client):
    """A client of a running Orthanc's REST API (its DICOMweb root is /dicom-web/), with
    where its DICOM server listens when it has one."""

    def __init__(self, port: int, *, dicom_port: int | None, folder: Path) -> None:
        super().__init__(base_url=f"http://127.0.0.1:{port}", timeout=60)
        self.http_port = port
        self.dicom_port = dicom_port
        self.ae_title = AE_TITLE
        self.folder = folder

    @property
    def dicomweb_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"


StartOrthanc = Callable[..., Orthanc]


def orthanc_config(
    folder: Path,
    port: int,
    servers: dict[str, dict[str, str]],
    dicom_port: int | None,
    modalities: dict[str, list[Any]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        "Name": "reference",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": dicom_port is not None,
        "DicomAet": AE_TITLE,
        "DicomPort": dicom_port or 4242,
        "DicomModalities": modalities,
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Servers": servers},
        **extra,
    }


def orthanc_starter(tmp_path: Path) -> Iterator[StartOrthanc]:
    """What the ``start_orthanc`` fixture gives: ``start(servers=None, *, dicom=False,
    modalities=None, **extra)`` starts an Orthanc with ``servers`` (name -> {"Url",
    "Username", "Password"}) as the DICOMweb servers of its client, its DICOM server on a
    free port when ``dicom``, and any other configuration in ``extra``; every Orthanc it
    started is stopped at the end of the test."""
    running: list[tuple[subprocess.Popen[bytes], Orthanc, Any]] = []

    def start(
        servers: dict[str, dict[str, str]] | None = None,
        *,
        dicom: bool = False,
        modalities: dict[str, list[Any]] | None = None,
        **extra: Any,
    ) -> Orthanc:
        for attempt in range(1, TRIES + 1):
            folder = tmp_path / f"orthanc{len(running)}-{attempt}"
            folder.mkdir()
            port, dicom_port = free_port(), free_port() if dicom else None
            config = orthanc_config(
                folder, port, servers or {}, dicom_port, modalities or {}, extra
            )
            path = folder / "orthanc.json"
            path.write_text(json.dumps(config))
            log = (folder / "orthanc.log").open("wb")
            try:
                proc = subprocess.Popen(
                    [ORTHANC, str(path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
                )
            except OSError:  # not installed: this test fails, and leaves no open file behind
                log.close()
                raise
            client = Orthanc(port, dicom_port=dicom_port, folder=folder)
            running.append((proc, client, log))
            if _wait_up(proc, client, folder / "orthanc.log", last=attempt == TRIES):
                return client
        raise AssertionError("unreachable")  # the last attempt raises

    yield start
    for proc, client, log in running:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _wait_up(proc: subprocess.Popen[bytes], client: Orthanc, log: Path, *, last: bool) -> bool:
    """Whether Orthanc came up on its ports: its HTTP server answers and, with a DICOM
    server, Orthanc itself listens on that port. A port picked free can be taken by
    another test's process before Orthanc binds it (Orthanc then stops); False lets the
    caller start again on other ports, unless this was the ``last`` try."""
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            assert not last, log.read_text()
            return False
        try:
            # 401: up, and asking for the credentials a test configured.
            up = client.get("/system").status_code in (200, 401)
        except httpx.TransportError:
            up = False
        if up and (client.dicom_port is None or _listens(proc.pid, client.dicom_port)):
            return True
        if time.monotonic() > deadline:
            assert not last, f"Orthanc did not start:\n{log.read_text()}"
            proc.kill()
            return False
        time.sleep(0.1)


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a TCP socket listening on ``port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) in inodes for fd in fds.iterdir())
    except FileNotFoundError:  # the process ended meanwhile
        return False
