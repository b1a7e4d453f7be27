"""Orthanc 1.10 with Debian's DICOMweb plug-in, as a real DICOMweb peer.

Its HTTP server answers loopback only (``RemoteAccessAllowed`` off) and its DICOM server is
off; it is started per test on empty storage, knowing the DICOMweb servers it may send to.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
StartOrthanc = Callable[[dict[str, dict[str, str]]], httpx.Client]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def start_orthanc(tmp_path: Path) -> Iterator[StartOrthanc]:
    """Starts Orthanc with ``servers`` (name -> {"Url", "Username", "Password"}) as the
    DICOMweb servers of its client; gives a client of its REST API (its DICOMweb root is
    /dicom-web/)."""
    running: list[tuple[subprocess.Popen[bytes], httpx.Client, Any]] = []

    def start(servers: dict[str, dict[str, str]]) -> httpx.Client:
        port = free_port()
        config = {
            "Name": "reference",
            "StorageDirectory": str(tmp_path / "orthanc"),
            "IndexDirectory": str(tmp_path / "orthanc"),
            "HttpPort": port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": False,
            "Plugins": [str(PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Servers": servers},
        }
        path = tmp_path / "orthanc.json"
        path.write_text(json.dumps(config))
        log = (tmp_path / "orthanc.log").open("wb")
        try:
            proc = subprocess.Popen(
                ["/usr/sbin/Orthanc", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
            )
        except OSError:  # not installed: this test fails, and leaves no open file behind
            log.close()
            raise
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        running.append((proc, client, log))
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "orthanc.log").read_text()
            try:
                if client.get("/system").status_code == 200:
                    return client
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Orthanc did not start"
            time.sleep(0.1)

    yield start
    for proc, client, log in running:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
