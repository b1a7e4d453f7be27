"""End to end through a scaled-out deployment (tests/deployment.py): two web servers
(`scandepot serve --no-dicom`), two `scandepot dicom` receivers on one port and a Celery
worker, on a PostgreSQL catalog and one data folder. Scanners send with dcmtk's storescu,
clients use the web servers with dicomweb-client and plain HTTP.

One test, so that one deployment serves it whichever test process runs it (pytest-xdist
spreads a module's tests over its processes): the ingest of four studies over four
concurrent associations is done once, then each check looks at one property of what came
of it, and says which when it fails."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient

from scandepot.catalog.pipelines import Job
from scandepot.dicom.synthetic import Series, Study, mr_instance
from tests.deployment import ADMIN, Deployment, ae_projects, deployment
from tests.scaleout.common import (
    PROJECT,
    SLICES,
    archived,
    duplicated_instances,
    finished_jobs,
    listening,
    make_project,
    storescu,
    wait_for,
    write_studies,
)

pytestmark = [pytest.mark.interop, pytest.mark.postgresql]

STUDIES = 4  # one per association, all at once


@dataclass
class Ingested:
    deployment: Deployment
    studies: dict[str, list[Path]]
    storescu: list[str]  # each association's output
    jobs: list[Job]


@pytest.fixture
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    root = tmp_path_factory.mktemp("scaleout")
    studies = write_studies(root / "studies", STUDIES)
    with deployment(root / "deployment", ae_projects=ae_projects(SCALE=PROJECT)) as running:
        with running.context() as ctx:
            make_project(ctx, pipelines=("dcm2niix",))
        senders = [
            storescu(running.dicom_port, files, calling=f"SCANNER{n}")
            for n, files in enumerate(studies.values(), start=1)
        ]
        outputs = [sender.communicate(timeout=300)[0] for sender in senders]
        assert [s.returncode for s in senders] == [0] * STUDIES, outputs
        with running.context() as ctx:
            wait_for(
                "the studies archived",
                lambda: archived(ctx, STUDIES, STUDIES * SLICES) or None,
                explain=running.logs,
            )
            jobs = wait_for(
                "the jobs run", lambda: finished_jobs(ctx, STUDIES), explain=running.logs
            )
        yield Ingested(running, studies, outputs, jobs)


def stored_per_receiver(running: Deployment) -> list[int]:
    """Instances each receiver says it stored, over its associations."""
    counts = []
    for receiver in running.receivers:
        lines = [line for line in receiver.output().splitlines() if "instance(s) stored" in line]
        counts.append(sum(int(line.split("; ")[-1].split()[0]) for line in lines))
    return counts


def built_sessions(running: Deployment) -> list[str]:
    """The staged sessions the receivers' builders archived, one line each time."""
    return [
        line.split("staged session ")[1]
        for receiver in running.receivers
        for line in receiver.output().splitlines()
        if "staged session " in line and line.endswith(": archived")
    ]


def check_four_associations_into_two_receivers_archive_each_session_exactly_once(
    ingested: Ingested,
) -> None:
    running = ingested.deployment
    acknowledged = sum(out.count("Received Store Response (Success)") for out in ingested.storescu)
    assert acknowledged == STUDIES * SLICES
    assert sum(stored_per_receiver(running)) == STUDIES * SLICES
    with running.context() as ctx:
        assert duplicated_instances(ctx) == []
    built = built_sessions(running)
    assert len(set(built)) == len(built) == STUDIES, built
    # One session per study, one scan each, every slice once, under its patient's labels.
    r = httpx.get(
        f"{running.webs[0].url}/api/v1/projects/{PROJECT}/sessions", auth=ADMIN, timeout=30
    )
    assert r.status_code == 200, r.text
    sessions = sorted((s["subject"], s["label"]) for s in r.json()["items"])
    assert sessions == [(f"SUBJ{n}", f"SESS{n}") for n in range(1, STUDIES + 1)]
    check = running.command("check")
    assert check.returncode == 0, check.stdout + check.stderr
    checked = int(check.stdout.split("OK: ")[1].split()[0])
    assert checked >= STUDIES * SLICES, check.stdout  # the DICOM, and what jobs made


def check_both_receivers_take_associations_on_the_one_port(ingested: Ingested) -> None:
    """The kernel spreads connections over the two listeners (SO_REUSEPORT): C-ECHOes
    until each receiver has served one (the chance that 64 all go to one is 2^-63)."""
    running = ingested.deployment
    before = [r.output().count("association from") for r in running.receivers]
    for _ in range(64):
        echo = subprocess.run(
            ["/usr/bin/echoscu", "-aec", "SCANDEPOT", "127.0.0.1", str(running.dicom_port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert echo.returncode == 0, echo.stdout + echo.stderr
        after = [r.output().count("association from") for r in running.receivers]
        if all(a > b for a, b in zip(after, before, strict=True)):
            return
    raise AssertionError(f"one receiver took every association: {before} -> {after}")


def check_web_servers_do_not_receive_dicom(ingested: Ingested) -> None:
    for web in ingested.deployment.webs:
        assert not listening(web.dicom_port)
        assert ", no DICOM" in web.output()


def check_auto_launched_jobs_run_on_the_celery_worker(ingested: Ingested) -> None:
    [worker] = ingested.deployment.workers
    name = f"celery:{socket.gethostname()}:{worker.pid}"
    assert [(j.pipeline, j.status, j.worker) for j in ingested.jobs] == [
        ("dcm2niix", "succeeded", name)
    ] * STUDIES, [j.message for j in ingested.jobs]
    web = ingested.deployment.webs[1]
    for n in range(1, STUDIES + 1):
        r = httpx.get(
            f"{web.url}/api/v1/projects/{PROJECT}/sessions/SESS{n}/scans/1/resources/NIFTI/files",
            auth=ADMIN,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert any(f["path"].endswith(".nii.gz") for f in r.json()["items"]), r.json()


def check_downloads_through_each_web_server_are_identical(ingested: Ingested) -> None:
    """Byte for byte, every file; the manifests differ only in when they were made."""
    running = ingested.deployment
    downloads = []
    for web in running.webs:
        r = httpx.get(
            f"{web.url}/api/v1/projects/{PROJECT}/sessions/SESS1/download",
            params={"format": "zip"},
            auth=ADMIN,
            timeout=60,
        )
        assert r.status_code == 200, r.text
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            downloads.append({name: z.read(name) for name in z.namelist()})
    first, second = downloads
    assert first.keys() == second.keys()
    made = [name for name in first if name.endswith("manifest.json")]
    assert len(made) == 1 and len(first) > SLICES + 2, sorted(first)
    for name in first.keys() - made:
        assert first[name] == second[name], name
    manifests = [json.loads(d[made[0]]) for d in downloads]
    assert [m.pop("created") for m in manifests] != [None, None]
    assert manifests[0] == manifests[1]
    # And the DICOM in it is what the scanner sent, slice for slice.
    sent = {}
    for path in next(iter(ingested.studies.values())):
        ds = pydicom.dcmread(path)
        sent[ds.SOPInstanceUID] = ds.PixelData
    got = {}
    for name in first:
        if name.endswith(".dcm"):
            ds = pydicom.dcmread(io.BytesIO(first[name]))
            got[ds.SOPInstanceUID] = ds.PixelData
    assert got == sent


def check_qido_and_xnat_listings_through_the_other_web_server(ingested: Ingested) -> None:
    web = ingested.deployment.webs[1]
    session = requests.Session()
    session.auth = ADMIN
    dw = DICOMwebClient(url=f"{web.url}/dicomweb/projects/{PROJECT}", session=session)
    found = dw.search_for_studies()
    assert sorted(s["0020000D"]["Value"][0] for s in found) == sorted(ingested.studies)
    r = httpx.get(
        f"{web.url}/data/projects/{PROJECT}/experiments",
        params={"format": "json"},
        auth=ADMIN,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    labels = sorted(row["label"] for row in r.json()["ResultSet"]["Result"])
    assert labels == [f"SESS{n}" for n in range(1, STUDIES + 1)]


def check_stow_through_a_web_server_is_built_by_a_receiver(ingested: Ingested) -> None:
    """A web server stages what STOW-RS brings; with no builder of its own, a receiver's
    builds and archives it."""
    running = ingested.deployment
    study = Study(PatientName="STOW", PatientID="STOW1")
    series = Series()
    sent = [mr_instance(study, series, n, rows=16, columns=16) for n in range(1, 4)]
    session = requests.Session()
    session.auth = ADMIN
    dw = DICOMwebClient(url=f"{running.webs[0].url}/dicomweb/projects/{PROJECT}", session=session)
    answer = dw.store_instances(sent)
    assert len(answer.ReferencedSOPSequence) == 3
    with running.context() as ctx:
        wait_for(
            "the STOW study archived",
            lambda: archived(ctx, STUDIES + 1, STUDIES * SLICES + 3) or None,
            timeout=60,
            explain=running.logs,
        )
    # The builder says so a moment after its commit.
    built = wait_for(
        "the builder's word",
        lambda: found if len(found := built_sessions(running)) > STUDIES else None,
    )
    assert len(set(built)) == len(built) == STUDIES + 1, built
    assert not any(": archived" in web.output() for web in running.webs)
    r = httpx.get(
        f"{running.webs[1].url}/api/v1/projects/{PROJECT}/sessions/STOW1", auth=ADMIN, timeout=30
    )
    assert r.status_code == 200, r.text


CHECKS = (
    check_four_associations_into_two_receivers_archive_each_session_exactly_once,
    check_both_receivers_take_associations_on_the_one_port,
    check_web_servers_do_not_receive_dicom,
    check_auto_launched_jobs_run_on_the_celery_worker,
    check_downloads_through_each_web_server_are_identical,
    check_qido_and_xnat_listings_through_the_other_web_server,
    check_stow_through_a_web_server_is_built_by_a_receiver,
)


def test_through_a_scaled_out_deployment(ingested: Ingested) -> None:
    """Each check in turn (the STOW one last: it adds a session)."""
    for check in CHECKS:
        check(ingested)
