"""Orthanc as the peer that benchmarks and reference tests compare against.

Orthanc 1.10 listens on every interface, so it runs inside a private network namespace
made for the run, where only the loopback is up (run as root); whatever talks to it runs
in the same namespace. Imported by the benchmarks beside it and by the reference tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ORTHANC_PORT, ORTHANC_HTTP_PORT = 4242, 8042
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


class Namespace:
    """A network namespace of its own with only its loopback up; commands run in it."""

    def __init__(self, prefix: str = "sdbench") -> None:
        self.name = f"{prefix}{os.getpid()}"

    def __enter__(self) -> Namespace:
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"], check=True)
        return self

    def cmd(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.cmd(argv), **kwargs)  # type: ignore[call-overload,no-any-return]

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


def wait_echo(ns: Namespace | None, port: int, aet: str) -> None:
    argv = ["echoscu", "-aec", aet, "127.0.0.1", str(port)]
    for _ in range(300):
        command = ns.cmd(argv) if ns else argv
        if subprocess.run(command, capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"no echo from {aet} on {port}")


def wait_http(url: str, timeout: float = 30) -> None:
    """Until ``url`` answers at all (from inside the namespace)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_orthanc(
    run: Path,
    ns: Namespace | None = None,
    *,
    dicomweb: bool = False,
    servers: dict[str, list[str]] | None = None,
) -> subprocess.Popen[bytes]:
    """Orthanc on empty storage under ``run``: DICOM on 4242, HTTP on 8042 (in ``ns``, or in
    the namespace of the caller), with its DICOMweb plug-in at /dicom-web/ when asked and
    ``servers`` as the DICOMweb servers its own client sends to."""
    storage = run / "orthanc"
    storage.mkdir(parents=True, exist_ok=True)
    config = run / "orthanc.json"
    settings: dict[str, object] = {
        "Name": "reference",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "DicomAet": "ORTHANC",
        "DicomPort": ORTHANC_PORT,
        "HttpPort": ORTHANC_HTTP_PORT,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "TcpNoDelay": True,
        "DicomCheckCalledAet": False,
        "Plugins": [str(DICOMWEB_PLUGIN)] if dicomweb else [],
    }
    if dicomweb:
        settings["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/", "Servers": servers or {}}
    config.write_text(json.dumps(settings))
    argv = ["env", "TCP_NODELAY=1", "Orthanc", str(config)]
    proc = subprocess.Popen(
        ns.cmd(argv) if ns else argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_echo(ns, ORTHANC_PORT, "ORTHANC")
    return proc
