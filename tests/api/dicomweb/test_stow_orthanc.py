"""A real sender: Orthanc 1.10 with its DICOMweb plug-in stores a study into scandepot
with its own STOW-RS client (``/dicom-web/servers/{name}/stow``)."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO

import httpx
import pydicom
import pytest
from sqlalchemy import select

from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from tests.conftest import PASSWORD, LiveServer
from tests.ingest.test_stow import siemens_files
from tests.orthanc_peer import StartOrthanc

pytestmark = pytest.mark.interop


@pytest.fixture
def orthanc(
    start_orthanc: StartOrthanc, live_server: LiveServer, make_project: Callable[..., str]
) -> tuple[httpx.Client, str]:
    """Orthanc knowing scandepot's project root as the DICOMweb server "scandepot", signed
    in as the project's member."""
    project = make_project("private")
    url = f"{live_server.url}/dicomweb/projects/{project}/"
    server = {"Url": url, "Username": "member", "Password": PASSWORD}
    return start_orthanc({"scandepot": server}), project


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
