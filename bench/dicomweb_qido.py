"""QIDO-RS study search latency over a large catalog, scandepot against Orthanc.

Part of bench/dicomweb.py (run that). scandepot's catalog is filled by
``scandepot.query.bulk`` (``--studies`` studies of four series, ``--catalog-instances``
instance rows in all, with their file rows; no files). Orthanc is given the same studies:
one small instance for each modality a study holds, with the study's patient, date, time
and UIDs, through its REST API (storing a million instances in Orthanc would take hours).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
from pathlib import Path

import httpx
from orthanc import ORTHANC_HTTP_PORT, start_orthanc, wait_http
from serving import PASSWORD, serve, server_env
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.archive import Scan, Session
from scandepot.context import Context
from scandepot.db.migrate import upgrade
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.query import bulk
from scandepot.settings import Settings

ORTHANC = f"http://127.0.0.1:{ORTHANC_HTTP_PORT}"
SERIES = 4
QUERY = (
    "limit=101&offset=0&fuzzymatching=false&includefield=00081030,00080060"
    "&PatientName=DOE*&StudyDate=20200101-20211231&ModalitiesInStudy=CT"
)


def load_scandepot(
    data: Path, studies: int, instances: int, database_url: str | None
) -> list[tuple[object, ...]]:
    """The catalog filled; each study's attributes and modalities, for Orthanc."""
    data.mkdir(parents=True)
    ctx = Context.from_settings(Settings(data_dir=data, database_url=database_url))
    ctx.store.ensure()
    upgrade(ctx.db)
    projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH"))
    per_series = max(1, instances // (studies * SERIES))
    bulk.load(ctx, "BENCH", studies=studies, series=SERIES, instances=per_series, batch=500)
    with ctx.db.read() as db:
        rows = db.execute(
            select(
                Session.StudyInstanceUID,
                Session.PatientName,
                Session.PatientID,
                Session.date,
                Session.time,
                Scan.Modality,
            )
            .join(Scan, Scan.session_id == Session.id)
            .distinct()
        ).all()
    ctx.close()
    return [tuple(r) for r in rows]


def load_orthanc(studies: list[tuple[object, ...]]) -> None:
    with httpx.Client(base_url=ORTHANC, timeout=60) as client:
        for number, (uid, name, patient, day, at, modality) in enumerate(studies):
            study = Study(
                PatientName=str(name),
                PatientID=str(patient),
                StudyDate=day.strftime("%Y%m%d") if day else "",  # type: ignore[attr-defined]
                StudyTime=at.strftime("%H%M%S") if at else "",  # type: ignore[attr-defined]
                StudyInstanceUID=str(uid),
            )
            ds = mr_instance(study, Series(number % 1000 + 1, "bench"), 1, rows=8, columns=8)
            ds.Modality = str(modality)
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            client.post("/instances", content=out.getvalue()).raise_for_status()


def latencies(url: str, auth: tuple[str, str] | None, times: int = 30) -> tuple[float, int]:
    """Median milliseconds of ``times`` searches by curl, and how many studies it finds."""
    found = httpx.get(url, auth=auth, timeout=60).json()
    spent = []
    for _ in range(times):
        argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", url]
        if auth:
            argv[1:1] = ["-u", ":".join(auth)]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        spent.append(float(out) * 1000)
    return statistics.median(spent), len(found)


def qido_latency(args: argparse.Namespace, run: Path) -> None:
    print(f"\nloading {args.studies} studies, {args.catalog_instances} instance rows", flush=True)
    url = args.database_url
    studies = load_scandepot(run / "qido-scandepot", args.studies, args.catalog_instances, url)
    orthanc = start_orthanc(run / "qido-orthanc", dicomweb=True)
    try:
        wait_http(f"{ORTHANC}/system")
        load_orthanc(studies)
        theirs, n_theirs = latencies(f"{ORTHANC}/dicom-web/studies?{QUERY}", None)
    finally:
        orthanc.terminate()
        orthanc.wait()
    # A token, as scripts use: HTTP Basic checks the password's hash on every request.
    env = server_env(**({"SCANDEPOT_DATABASE_URL": url} if url else {}))
    with serve(run / "qido-scandepot", env) as (_server, base):
        made = httpx.post(
            f"{base}/api/v1/auth/tokens", auth=("admin", PASSWORD), json={"name": "bench"}
        )
        made.raise_for_status()
        token = made.json()["token"]
        url = f"{base}/dicomweb/projects/BENCH/studies?{QUERY}"
        ours, n_ours = latencies_bearer(url, token)
    print(
        f"QIDO-RS study search ({'PostgreSQL' if url else 'SQLite'}), median ms of 30: "
        f"scandepot {ours:.1f} ({n_ours} found), "
        f"Orthanc {theirs:.1f} ({n_theirs} found), ratio {ours / theirs:.2f}"
    )


def latencies_bearer(url: str, token: str, times: int = 30) -> tuple[float, int]:
    header = f"authorization: Bearer {token}"
    found = httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=60).json()
    spent = []
    for _ in range(times):
        argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", "-H", header]
        out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
        spent.append(float(out) * 1000)
    return statistics.median(spent), len(found)
