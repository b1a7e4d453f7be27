"""Orthanc with its DICOMweb plug-in and `scandepot serve`, side by side in one network
namespace, holding the same instances; prints both servers' answers to the same QIDO
queries as JSON.

Run inside the namespace (Orthanc listens on every interface, so it never runs outside
one): ``ip netns exec NS python -m tests.api.dicomweb.reference OUT_DIR FILE...``. The
instances go to Orthanc by its REST API, then from Orthanc to scandepot by Orthanc's own
DICOMweb client (``/dicom-web/servers/scandepot/stow``): a real sender. The comparison is
made by tests/api/dicomweb/test_orthanc_reference.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from bench.orthanc import ORTHANC_HTTP_PORT, start_orthanc, wait_http

PORT = 18080
PROJECT = "REF"
PASSWORD = "reference-password-1"
SCANDEPOT = f"http://127.0.0.1:{PORT}"
ORTHANC = f"http://127.0.0.1:{ORTHANC_HTTP_PORT}"
ROOTS = {"orthanc": f"{ORTHANC}/dicom-web", "scandepot": f"{SCANDEPOT}/dicomweb/projects/{PROJECT}"}

# What OHIF's study list sends, then the searches people type into it.
OHIF_LIST = "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060"
STUDY_QUERIES = {
    "ohif study list": OHIF_LIST,
    "patient name prefix": f"{OHIF_LIST}&PatientName=Synthetic*",
    "patient name inner wildcard": "PatientName=*^Ref*",
    "patient name one character": "PatientName=Synthetic%5ERef?",
    "patient id": "PatientID=SYN002",
    "date range": "StudyDate=20240101-20241231",
    "date up to": "StudyDate=-20200101",
    "date single": "StudyDate=20240301",
    "modality in study MR": "ModalitiesInStudy=MR",
    "modality in study CT": "ModalitiesInStudy=CT",
    "includefield all": "includefield=all",
    "limit and offset": "limit=2&offset=1",
}


def scandepot_up(data: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANDEPOT_")}
    env.update(SCANDEPOT_ADMIN_PASSWORD=PASSWORD, SCANDEPOT_LOG_LEVEL="warning")
    argv = [sys.executable, "-m", "scandepot", "serve", "--data-dir", str(data)]
    server = subprocess.Popen(
        argv + ["--host", "127.0.0.1", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL
    )
    wait_http(f"{SCANDEPOT}/healthz", timeout=60)
    return server


def load(files: list[Path], admin: httpx.Client, orthanc: httpx.Client) -> None:
    """Every file into Orthanc, then each of Orthanc's studies to scandepot by STOW-RS."""
    made = admin.post("/api/v1/projects", json={"id": PROJECT, "upload_destination": "archive"})
    made.raise_for_status()
    for path in files:
        orthanc.post("/instances", content=path.read_bytes()).raise_for_status()
    for study in orthanc.get("/studies").json():
        sent = orthanc.post("/dicom-web/servers/scandepot/stow", json={"Resources": [study]})
        sent.raise_for_status()
    expected = len(orthanc.get("/instances").json())
    deadline = time.monotonic() + 120
    while True:  # archived once the project's sessions are built
        found = admin.get(f"/dicomweb/projects/{PROJECT}/instances", params={"limit": 100000})
        if found.status_code == 200 and len(found.json()) == expected:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"scandepot holds {found.text[:200]} of {expected} instances")
        time.sleep(0.2)


def ask(clients: dict[str, httpx.Client], path: str) -> dict[str, Any]:
    answers = {}
    for name, client in clients.items():
        r = client.get(ROOTS[name] + path, headers={"accept": "application/dicom+json"})
        answers[name] = {"status": r.status_code, "body": r.json() if r.content else []}
    return answers


def queries(clients: dict[str, httpx.Client]) -> dict[str, Any]:
    answers = {name: ask(clients, f"/studies?{q}") for name, q in STUDY_QUERIES.items()}
    studies = [s["0020000D"]["Value"][0] for s in answers["ohif study list"]["orthanc"]["body"]]
    for study in studies:
        answers[f"series of {study}"] = series = ask(clients, f"/studies/{study}/series")
        for found in series["orthanc"]["body"]:
            uid = found["0020000E"]["Value"][0]
            path = f"/studies/{study}/series/{uid}/instances"
            answers[f"instances of {uid}"] = ask(clients, path)
    return answers


def main() -> None:
    out, files = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    servers = {"scandepot": [f"{ROOTS['scandepot']}/", "admin", PASSWORD]}
    orthanc_proc = start_orthanc(out, dicomweb=True, servers=servers)
    scandepot_proc = scandepot_up(out / "scandepot")
    try:
        with (
            httpx.Client(base_url=SCANDEPOT, auth=("admin", PASSWORD), timeout=60) as admin,
            httpx.Client(base_url=ORTHANC, timeout=60) as orthanc,
        ):
            wait_http(f"{ORTHANC}/system")
            load(files, admin, orthanc)
            answers = queries({"orthanc": orthanc, "scandepot": admin})
        (out / "answers.json").write_text(json.dumps(answers, indent=1))
    finally:
        for proc in (orthanc_proc, scandepot_proc):
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
