"""A real sender: Orthanc 1.10 with its DICOMweb plug-in stores a study into scandepot
with its own STOW-RS client (``/dicom-web/servers/{name}/stow``)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import httpx
import pydicom
import pytest
from sqlalchemy import select

from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from tests.conftest import PASSWORD, LiveServer
from tests.ingest.test_stow import siemens_files

pytestmark = pytest.mark.interop

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def orthanc(
    tmp_path: Path, live_server: LiveServer, make_project: Callable[..., str]
) -> Iterator[tuple[httpx.Client, str]]:
    """Orthanc (HTTP on loopback only, no DICOM port) knowing scandepot's project root as
    the DICOMweb server "scandepot", signed in as the project's member."""
    project = make_project("private")
    port = free_port()
    config = {
        "Name": "stow-test",
        "StorageDirectory": str(tmp_path / "orthanc"),
        "IndexDirectory": str(tmp_path / "orthanc"),
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": False,
        "Plugins": [str(PLUGIN)],
        "DicomWeb": {
            "Enable": True,
            "Servers": {
                "scandepot": {
                    "Url": f"{live_server.url}/dicomweb/projects/{project}/",
                    "Username": "member",
                    "Password": PASSWORD,
                }
            },
        },
    }
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(config))
    log = (tmp_path / "orthanc.log").open("wb")
    proc = subprocess.Popen(
        ["/usr/sbin/Orthanc", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, (tmp_path / "orthanc.log").read_text()
                try:
                    if client.get("/system").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "Orthanc did not start"
                time.sleep(0.1)
            yield client, project
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_orthanc_sends_a_study_with_its_stow_client(
    ctx: Context, orthanc: tuple[httpx.Client, str]
) -> None:
    client, project = orthanc
    study = Study()
    synthetic = [to_bytes(mr_instance(study, Series(), n, rows=32, columns=32)) for n in (1, 2)]
    sent: dict[str, str] = {}
    for data in synthetic:
        r = client.post("/instances", content=data)
        assert r.status_code == 200, r.text
        sent[str(pydicom.dcmread(BytesIO(data)).SOPInstanceUID)] = r.json()["ParentStudy"]
    [orthanc_study] = set(sent.values())
    r = client.post("/dicom-web/servers/scandepot/stow", json={"Resources": [orthanc_study]})
    assert r.status_code == 200, r.text
    with ctx.db.read() as db:
        stored = set(db.scalars(select(Instance.SOPInstanceUID)))
        keys = set(db.scalars(select(StagedSession.project_key)))
    assert stored == set(sent)
    assert keys == {project}


def test_orthanc_sends_real_siemens_studies(
    ctx: Context, orthanc: tuple[httpx.Client, str]
) -> None:
    client, _project = orthanc
    studies, uids = set(), set()
    for path in siemens_files():
        r = client.post("/instances", content=path.read_bytes())
        assert r.status_code == 200, r.text
        studies.add(r.json()["ParentStudy"])
        uids.add(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID))
    r = client.post("/dicom-web/servers/scandepot/stow", json={"Resources": sorted(studies)})
    assert r.status_code == 200, r.text
    with ctx.db.read() as db:
        assert set(db.scalars(select(Instance.SOPInstanceUID))) == uids
