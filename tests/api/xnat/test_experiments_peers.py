"""Experiments and scans with the real clients, unchanged, against a real server: xnatpy
(listings through project.subjects[s].experiments, an MR session made with its classes,
fields set, scans listed and made) and pyxnat (select chains, create(), scans(), attrs,
the XML document, delete); each result checked against /api/v1."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scandepot.access.actors import SYSTEM
from scandepot.archive import scans, sessions, subjects
from scandepot.archive.scans import ScanCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.context import Context
from tests.conftest import PASSWORD

pytestmark = pytest.mark.interop


@pytest.fixture
def project(ctx: Context, make_project: Callable[..., str]) -> str:
    """S1 with an MR session (two scans) and a CT session; S2 with none."""
    label = make_project()
    for subject in ("S1", "S2"):
        subjects.create(ctx, SYSTEM, label, SubjectCreate(label=subject))
    sessions.create(
        ctx,
        SYSTEM,
        label,
        SessionCreate(label="S1_MR1", subject="S1", modality="MR", date=dt.date(2024, 3, 1)),
    )
    sessions.create(ctx, SYSTEM, label, SessionCreate(label="S1_CT1", subject="S1", modality="CT"))
    for number, description in ((1, "T1 MPRAGE"), (2, "rest")):
        scans.create(
            ctx,
            SYSTEM,
            label,
            "S1_MR1",
            ScanCreate(
                id=str(number), SeriesNumber=number, SeriesDescription=description, Modality="MR"
            ),
        )
    return label


def native(server: str, path: str) -> Any:
    r = httpx.get(f"{server}/api/v1{path}", auth=("member", PASSWORD), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_xnatpy_lists_reads_and_creates(
    xnatpy: Callable[..., Any], xnat_server: str, project: str
) -> None:
    session = xnatpy("member")
    subject = session.projects[project].subjects["S1"]
    listed = {e.label: e for e in subject.experiments.values()}
    api = {s["label"]: s for s in native(xnat_server, f"/projects/{project}/sessions")["items"]}
    assert set(listed) == set(api)
    mr = listed["S1_MR1"]
    assert mr.id == api["S1_MR1"]["id"]
    assert mr.__xsi_type__ == "xnat:mrSessionData"
    assert listed["S1_CT1"].__xsi_type__ == "xnat:ctSessionData"
    assert mr.date == dt.date(2024, 3, 1)
    assert mr.subject_id == api["S1_MR1"]["subject_id"]
    assert mr.modality == "MR"
    # Scans, by ID, with their fields.
    api_scans = native(xnat_server, f"/projects/{project}/sessions/S1_MR1/scans")["items"]
    assert sorted(mr.scans.keys()) == sorted(s["id"] for s in api_scans)
    assert mr.scans["1"].series_description == "T1 MPRAGE"
    assert mr.scans["1"].quality == "usable"
    # An MR session made with xnatpy's class under S2, then a field set.
    s2 = session.projects[project].subjects["S2"]
    made = session.classes.MrSessionData(parent=s2, label="S2_MR1")
    made.date = dt.date(2024, 5, 6)
    made.note = "made by xnatpy"
    created = native(xnat_server, f"/projects/{project}/sessions/S2_MR1")
    assert created["id"] == made.id
    assert created["subject"] == "S2" and created["modality"] == "MR"
    assert created["date"] == "2024-05-06" and created["note"] == "made by xnatpy"
    # A scan made with xnatpy's class.
    scan = session.classes.MrScanData(parent=made, id="7", type="T2w", quality="questionable")
    assert scan.type == "T2w"
    made_scan = native(xnat_server, f"/projects/{project}/sessions/S2_MR1/scans/7")
    assert (made_scan["type"], made_scan["quality"], made_scan["Modality"]) == (
        "T2w",
        "questionable",
        "MR",
    )
    # Deleted by the owner with xnatpy's delete (as its objects' delete() sends it): gone
    # from /api/v1 too.
    owner = xnatpy("owner")
    experiment = owner.projects[project].subjects["S2"].experiments["S2_MR1"]
    owner.delete(experiment.fulluri, query={"removeFiles": "true"})
    r = httpx.get(
        f"{xnat_server}/api/v1/projects/{project}/sessions/S2_MR1",
        auth=("member", PASSWORD),
        timeout=30,
    )
    assert r.status_code == 404


def test_pyxnat_select_create_scans_attrs(
    pyxnat_interface: Callable[..., Any], xnat_server: str, project: str
) -> None:
    interface = pyxnat_interface("member")
    found = interface.select(f"/projects/{project}/subjects/*/experiments/*")
    api = native(xnat_server, f"/projects/{project}/sessions")["items"]
    assert sorted(e.id() for e in found) == sorted(s["id"] for s in api)
    mr = interface.select.project(project).subject("S1").experiment("S1_MR1")
    assert mr.exists()
    assert mr.datatype() == "xnat:mrSessionData"
    assert mr.attrs.get("xnat:mrSessionData/date") == "2024-03-01"
    assert sorted(mr.scans().get()) == ["1", "2"]
    assert mr.scan("1").attrs.get("xnat:mrScanData/type") == "T1 MPRAGE"
    document = ET.fromstring(mr.get())
    assert document.tag == "{http://nrg.wustl.edu/xnat}MRSession"
    # create() with a field, as pyxnat sends it; then attrs.set.
    new = interface.select.project(project).subject("S2").experiment("S2_MR2")
    new.create(experiments="xnat:mrSessionData", **{"xnat:mrSessionData/date": "2024-06-01"})
    created = native(xnat_server, f"/projects/{project}/sessions/S2_MR2")
    assert created["subject"] == "S2" and created["date"] == "2024-06-01"
    assert created["modality"] == "MR"
    new.attrs.set("xnat:mrSessionData/note", "set by pyxnat")
    assert native(xnat_server, f"/projects/{project}/sessions/S2_MR2")["note"] == "set by pyxnat"
    scan = new.scan("3")
    scan.create(scans="xnat:mrScanData", **{"xnat:mrScanData/type": "DWI"})
    assert native(xnat_server, f"/projects/{project}/sessions/S2_MR2/scans/3")["type"] == "DWI"
    owner = pyxnat_interface("owner")
    owner.select.project(project).subject("S2").experiment("S2_MR2").delete()
    assert not new.exists()
