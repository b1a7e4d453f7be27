"""QIDO-RS study search latency over a large catalog, scandepot against Orthanc.

Part of bench/dicomweb.py (run that). scandepot's catalog is bulk-loaded with SQL: the
studies, ten series each and the rest of ``--catalog-instances`` spread over them, with
their file rows (the files themselves are not needed by a search). Orthanc is given the
same studies' attributes, one small instance a study, through its REST API.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import subprocess
from datetime import date, time
from pathlib import Path
from typing import Any

import httpx
from orthanc import ORTHANC_HTTP_PORT, start_orthanc, wait_http
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage
from serving import PASSWORD, serve, server_env
from sqlalchemy import insert

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.archive import File, Resource, Scan, Session, Subject
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.db.migrate import upgrade
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.settings import Settings

ORTHANC = f"http://127.0.0.1:{ORTHANC_HTTP_PORT}"
SERIES_PER_STUDY = 10
UID = "1.2.826.0.1.3680043.8.498.9"
QUERY = (
    "limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060"
    "&PatientName=PAT01*&StudyDate=20200101-20201231&ModalitiesInStudy=MR"
)


def study_of(i: int) -> dict[str, Any]:
    """The attributes of study ``i``: names, dates over ten years, MR or CT."""
    return {
        "uid": f"{UID}.{i}",
        "name": f"PAT{i:05d}^Bench",
        "patient_id": f"P{i:05d}",
        "date": date(2015 + i % 10, 1 + i % 12, 1 + i % 28),
        "modality": "MR" if i % 3 else "CT",
    }


def load_scandepot(data: Path, studies: int, instances: int) -> None:
    settings = Settings(data_dir=data)
    data.mkdir(parents=True)
    ctx = Context.from_settings(settings)
    ctx.store.ensure()
    upgrade(ctx.db)
    project_id = projects.create(ctx, SYSTEM, ProjectCreate(id="BENCH")).id
    per_series = max(1, instances // (studies * SERIES_PER_STUDY))
    with ctx.db.engine.begin() as conn:
        for first in range(0, studies, 500):
            batch = [study_of(i) for i in range(first, min(first + 500, studies))]
            _load_batch(conn, project_id, first, batch, per_series)
    ctx.close()


def _load_batch(conn: Any, project_id: int, first: int, batch: list[Any], per: int) -> None:
    ids = range(first + 1, first + len(batch) + 1)
    conn.execute(
        insert(Subject),
        [
            {
                "id": n,
                "stable_id": f"SD_S{n:07d}",
                "project_id": project_id,
                "label": s["patient_id"],
            }
            for n, s in zip(ids, batch, strict=True)
        ],
    )
    conn.execute(
        insert(Session),
        [
            {
                "id": n,
                "stable_id": f"SD_E{n:07d}",
                "project_id": project_id,
                "subject_id": n,
                "label": f"E{n}",
                "modality": s["modality"],
                "date": s["date"],
                "time": time(9, 30),
                "StudyInstanceUID": s["uid"],
                "PatientName": s["name"],
                "PatientID": s["patient_id"],
                "ModalitiesInStudy": s["modality"],
                "StudyDescription": "bench",
                "AccessionNumber": "A",
            }
            for n, s in zip(ids, batch, strict=True)
        ],
    )
    scans, resources, files, rows = [], [], [], []
    for n, s in zip(ids, batch, strict=True):
        for k in range(SERIES_PER_STUDY):
            scan = n * SERIES_PER_STUDY + k
            series_uid = f"{s['uid']}.{k}"
            scans.append(
                {
                    "id": scan,
                    "session_id": n,
                    "label": str(k + 1),
                    "Modality": s["modality"],
                    "SeriesInstanceUID": series_uid,
                    "SeriesNumber": k + 1,
                }
            )
            resources.append(
                {
                    "id": scan,
                    "level": "scan",
                    "parent_key": f"scan:{scan}",
                    "project_id": project_id,
                    "subject_id": n,
                    "session_id": n,
                    "scan_id": scan,
                    "label": "DICOM",
                }
            )
            for j in range(per):
                file_id = scan * per + j
                digest = hashlib.md5(str(file_id).encode()).hexdigest()
                files.append(
                    {
                        "id": file_id,
                        "resource_id": scan,
                        "path": f"{j}.dcm",
                        "size": 1,
                        "md5": digest,
                        "sha256": digest * 2,
                    }
                )
                rows.append(
                    {
                        "scan_id": scan,
                        "file_id": file_id,
                        "size": 1,
                        "SOPInstanceUID": f"{series_uid}.{j}",
                        "SOPClassUID": MRImageStorage,
                        "TransferSyntaxUID": ExplicitVRLittleEndian,
                        "StudyInstanceUID": s["uid"],
                        "SeriesInstanceUID": series_uid,
                        "Modality": s["modality"],
                        "InstanceNumber": j + 1,
                    }
                )
    for model, values in ((Scan, scans), (Resource, resources), (File, files), (Instance, rows)):
        conn.execute(insert(model), values)


def load_orthanc(studies: int) -> None:
    with httpx.Client(base_url=ORTHANC, timeout=60) as client:
        for i in range(studies):
            s = study_of(i)
            ds = mr_instance(
                Study(
                    PatientName=s["name"],
                    PatientID=s["patient_id"],
                    StudyDate=s["date"].strftime("%Y%m%d"),
                    StudyInstanceUID=s["uid"],
                ),
                Series(1, "bench", SeriesInstanceUID=f"{s['uid']}.0"),
                1,
                rows=8,
                columns=8,
            )
            ds.Modality = s["modality"]
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=True)
            client.post("/instances", content=out.getvalue()).raise_for_status()


def latencies(url: str, auth: tuple[str, str] | None, times: int = 30) -> tuple[float, int]:
    with httpx.Client(auth=auth, timeout=60) as client:
        found = client.get(url).json()
        spent = []
        for _ in range(times):
            argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total}", url]
            if auth:
                argv[1:1] = ["-u", ":".join(auth)]
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            spent.append(float(out) * 1000)
    return statistics.median(spent), len(found)


def qido_latency(args: argparse.Namespace, run: Path) -> None:
    print(
        f"\nloading {args.studies} studies / {args.catalog_instances} instance rows...", flush=True
    )
    load_scandepot(run / "qido-scandepot", args.studies, args.catalog_instances)
    orthanc = start_orthanc(run / "qido-orthanc", dicomweb=True)
    try:
        wait_http(f"{ORTHANC}/system")
        load_orthanc(args.studies)
        theirs, n_theirs = latencies(f"{ORTHANC}/dicom-web/studies?{QUERY}", None)
    finally:
        orthanc.terminate()
        orthanc.wait()
    with serve(run / "qido-scandepot", server_env()) as (_server, base):
        url = f"{base}/dicomweb/projects/BENCH/studies?{QUERY}"
        ours, n_ours = latencies(url, ("admin", PASSWORD))
    print(
        f"QIDO-RS study search, median of 30 ms: scandepot {ours:.1f} ({n_ours} found), "
        f"Orthanc {theirs:.1f} ({n_theirs} found), ratio {ours / theirs:.2f}"
    )
