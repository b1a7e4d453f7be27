"""Experiments and scans under /data: listings, single objects (items JSON and the XML
document), PUT to create and change, DELETE; each checked against /api/v1."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.access.actors import SYSTEM
from scandepot.archive import scans, sessions, subjects
from scandepot.archive.scans import ScanCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.context import Context
from tests.conftest import PASSWORD

MEMBER = ("member", PASSWORD)
OWNER = ("owner", PASSWORD)
COLLABORATOR = ("collaborator", PASSWORD)
NS = {"xnat": "http://nrg.wustl.edu/xnat", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}


@pytest.fixture
def filled(ctx: Context, make_project: Callable[..., str]) -> dict[str, Any]:
    """A project with subjects S1 (an MR and a CT session, the MR with two scans) and S2."""
    project = make_project()
    for label in ("S1", "S2"):
        subjects.create(ctx, SYSTEM, project, SubjectCreate(label=label))
    mr = sessions.create(
        ctx,
        SYSTEM,
        project,
        SessionCreate(
            label="S1_MR1",
            subject="S1",
            modality="MR",
            date="2024-03-01",
            time="10:20:30",
            StudyInstanceUID="1.2.3.4",
            StudyDescription="BRAIN",
            PatientBirthDate="19800102",
            StationName="MRC1",
            Manufacturer="SIEMENS",
            MagneticFieldStrength=3.0,
        ),
    )
    ct = sessions.create(
        ctx, SYSTEM, project, SessionCreate(label="S1_CT1", subject="S1", modality="CT")
    )
    scans.create(
        ctx,
        SYSTEM,
        project,
        "S1_MR1",
        ScanCreate(
            id="1", SeriesNumber=1, SeriesDescription="T1 MPRAGE", Modality="MR", frames=176
        ),
    )
    scans.create(
        ctx,
        SYSTEM,
        project,
        "S1_MR1",
        ScanCreate(id="2", SeriesNumber=2, SeriesDescription="rest", Modality="MR"),
    )
    return {"project": project, "mr": mr.stable_id, "ct": ct.stable_id}


def result(r: Any) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    rows: list[dict[str, str]] = r.json()["ResultSet"]["Result"]
    return rows


def test_project_listing_matches_api_v1(client: TestClient, filled: dict[str, Any]) -> None:
    project = filled["project"]
    r = client.get(f"/data/projects/{project}/experiments?format=json", auth=MEMBER)
    rows = result(r)
    assert r.json()["ResultSet"]["totalRecords"] == "2"
    native = client.get(f"/api/v1/projects/{project}/sessions", auth=MEMBER).json()["items"]
    assert {(x["ID"], x["label"], x["subject_ID"]) for x in rows} == {
        (n["id"], n["label"], n["subject_id"]) for n in native
    }
    mr = next(x for x in rows if x["label"] == "S1_MR1")
    assert mr == {
        "ID": filled["mr"],
        "project": project,
        "date": "2024-03-01",
        "xsiType": "xnat:mrSessionData",
        "label": "S1_MR1",
        "insert_date": mr["insert_date"],
        "subject_ID": native[0]["subject_id"],
        "subject_label": "S1",
        "URI": f"/data/experiments/{filled['mr']}",
    }
    # insert_date: the creation time in UTC to the millisecond, as XNAT lists it.
    created = next(n for n in native if n["label"] == "S1_MR1")["created_at"]
    assert mr["insert_date"] == created.replace("T", " ")[:23]
    ct = next(x for x in rows if x["label"] == "S1_CT1")
    assert ct["xsiType"] == "xnat:ctSessionData" and ct["date"] == ""


def test_listing_forms_columns_and_formats(client: TestClient, filled: dict[str, Any]) -> None:
    project = filled["project"]
    base = f"/data/projects/{project}"
    by_subject = result(client.get(f"{base}/subjects/S1/experiments?format=json", auth=MEMBER))
    assert {x["label"] for x in by_subject} == {"S1_MR1", "S1_CT1"}
    subject_id = by_subject[0]["subject_ID"]
    by_id = result(client.get(f"{base}/subjects/{subject_id}/experiments?format=json", auth=MEMBER))
    assert by_id == by_subject
    assert result(client.get(f"{base}/subjects/S2/experiments?format=json", auth=MEMBER)) == []
    # columns= chooses; URI comes with whatever is asked, as in XNAT (pyxnat reads it).
    rows = result(client.get(f"{base}/experiments?format=json&columns=ID,modality", auth=MEMBER))
    assert set(rows[0]) == {"ID", "modality", "URI"}
    # By XPath, as pyxnat's attrs.get asks: the header as written; DEFAULT as xnatpy sends.
    rows = result(
        client.get(
            f"{base}/experiments?format=json&columns=ID,xnat:mrSessionData/date", auth=MEMBER
        )
    )
    assert {x["xnat:mrSessionData/date"] for x in rows} == {"2024-03-01", ""}
    rows = result(client.get(f"{base}/experiments?format=json&columns=DEFAULT", auth=MEMBER))
    assert "subject_label" in rows[0]
    # xsiType= narrows.
    rows = result(
        client.get(f"{base}/experiments?format=json&xsiType=xnat:ctSessionData", auth=MEMBER)
    )
    assert [x["label"] for x in rows] == ["S1_CT1"]
    r = client.get(f"{base}/experiments?format=csv&columns=label,xsiType", auth=MEMBER)
    assert list(csv.DictReader(io.StringIO(r.text)))[1] == {
        "label": "S1_MR1",
        "xsiType": "xnat:mrSessionData",
        "URI": f"/data/experiments/{filled['mr']}",
    }
    xml = ET.fromstring(client.get(f"{base}/experiments?format=xml", auth=MEMBER).content)
    assert xml.get("totalRecords") == "2"
    assert "<td>S1_MR1</td>" in client.get(f"{base}/experiments", auth=MEMBER).text
    bad = client.get(f"{base}/experiments?format=json&columns=nope", auth=MEMBER)
    assert bad.status_code == 400 and "nope" in bad.text
    bad = client.get(f"{base}/experiments?format=json&xsiType=xnat:fooData", auth=MEMBER)
    assert bad.status_code == 400 and "xnat:fooData" in bad.text


def test_site_listing_shows_only_readable_projects(
    client: TestClient, filled: dict[str, Any], make_project: Callable[..., str], ctx: Context
) -> None:
    other = make_project()
    subjects.create(ctx, SYSTEM, other, SubjectCreate(label="X"))
    sessions.create(ctx, SYSTEM, other, SessionCreate(label="X_MR", subject="X"))
    rows = result(client.get("/data/experiments?format=json", auth=MEMBER))
    assert {x["label"] for x in rows} == {"S1_MR1", "S1_CT1", "X_MR"}
    assert result(client.get("/data/experiments?format=json", auth=("outsider", PASSWORD))) == []
    assert client.get("/data/experiments?format=json").status_code == 200  # a guest: public only


def test_experiment_json_and_xml(client: TestClient, filled: dict[str, Any]) -> None:
    project, eid = filled["project"], filled["mr"]
    native = client.get(f"/api/v1/projects/{project}/sessions/S1_MR1", auth=MEMBER).json()
    for path in (
        f"/data/projects/{project}/experiments/S1_MR1",
        f"/data/projects/{project}/experiments/{eid}",
        f"/data/projects/{project}/subjects/S1/experiments/S1_MR1",
        f"/data/experiments/{eid}",
        f"/REST/experiments/{eid}",
    ):
        r = client.get(f"{path}?format=json", auth=MEMBER)
        assert r.status_code == 200, (path, r.text)
        item = r.json()["items"][0]
        assert item["meta"]["xsi:type"] == "xnat:mrSessionData"
        fields = item["data_fields"]
        assert fields["ID"] == native["id"] and fields["label"] == native["label"]
        assert fields["subject_ID"] == native["subject_id"]
        assert fields["date"] == "2024-03-01" and fields["time"] == "10:20:30"
        assert fields["UID"] == "1.2.3.4" and fields["session_type"] == "BRAIN"
        assert fields["dcmPatientBirthDate"] == "1980-01-02"
        assert fields["fieldStrength"] == "3.0"
        scan_items = item["children"][0]
        assert scan_items["field"] == "scans/scan"
        assert [s["data_fields"]["ID"] for s in scan_items["items"]] == ["1", "2"]
        assert scan_items["items"][0]["meta"]["xsi:type"] == "xnat:mrScanData"
    doc = ET.fromstring(client.get(f"/data/experiments/{eid}", auth=MEMBER).content)
    assert doc.tag == "{http://nrg.wustl.edu/xnat}MRSession"
    assert (doc.get("ID"), doc.get("label"), doc.get("project")) == (eid, "S1_MR1", project)
    assert doc.findtext("xnat:date", namespaces=NS) == "2024-03-01"
    assert doc.find("xnat:scanner", NS).get("manufacturer") == "SIEMENS"  # type: ignore[union-attr]
    scan_docs = doc.findall("xnat:scans/xnat:scan", NS)
    assert [s.get("ID") for s in scan_docs] == ["1", "2"]
    assert scan_docs[0].get(f"{{{NS['xsi']}}}type") == "xnat:mrScanData"
    assert scan_docs[0].findtext("xnat:series_description", namespaces=NS) == "T1 MPRAGE"
    ct = ET.fromstring(client.get(f"/data/experiments/{filled['ct']}", auth=MEMBER).content)
    assert ct.tag == "{http://nrg.wustl.edu/xnat}CTSession"
    # Wrong subject in the path, unknown experiment: 404.
    assert (
        client.get(f"/data/projects/{project}/subjects/S2/experiments/S1_MR1", auth=MEMBER)
    ).status_code == 404
    assert client.get("/data/experiments/SD_E99999", auth=MEMBER).status_code == 404
    assert client.get(f"/data/experiments/{eid}", auth=("outsider", PASSWORD)).status_code == 404
    assert client.get(f"/data/experiments/{eid}?format=csv", auth=MEMBER).status_code == 400


def test_scans_listing_and_one_scan(client: TestClient, filled: dict[str, Any]) -> None:
    project, eid = filled["project"], filled["mr"]
    native = client.get(f"/api/v1/projects/{project}/sessions/S1_MR1/scans", auth=MEMBER).json()
    for base in (
        f"/data/projects/{project}/experiments/S1_MR1",
        f"/data/projects/{project}/subjects/S1/experiments/{eid}",
        f"/data/experiments/{eid}",
    ):
        rows = result(client.get(f"{base}/scans?format=json", auth=MEMBER))
        assert [(x["ID"], x["type"], x["quality"]) for x in rows] == [
            (n["id"], n["type"], n["quality"]) for n in native["items"]
        ]
        assert rows[0]["xsiType"] == "xnat:mrScanData"
        assert rows[0]["series_description"] == "T1 MPRAGE"
        assert rows[0]["URI"] == f"/data/experiments/{eid}/scans/1"
        one = client.get(f"{base}/scans/1?format=json", auth=MEMBER).json()["items"][0]
        assert one["data_fields"]["frames"] == "176"
        assert one["data_fields"]["image_session_ID"] == eid
    doc = ET.fromstring(client.get(f"/data/experiments/{eid}/scans/2", auth=MEMBER).content)
    assert doc.tag == "{http://nrg.wustl.edu/xnat}MRScan" and doc.get("ID") == "2"
    assert client.get(f"/data/experiments/{eid}/scans/9", auth=MEMBER).status_code == 404


def test_put_creates_an_mr_session_then_changes_it(
    client: TestClient, filled: dict[str, Any]
) -> None:
    project = filled["project"]
    url = f"/data/projects/{project}/subjects/S2/experiments/S2_MR1"
    r = client.put(
        url,
        params={
            "xsiType": "xnat:mrSessionData",
            "req_format": "qs",
            "xnat:mrSessionData/label": "S2_MR1",
            "xnat:mrSessionData/date": "2024-05-06",
            "xnat:experimentData/note": "first visit",
            "fieldStrength": "1.5",
        },
        auth=MEMBER,
    )
    assert r.status_code == 201, r.text
    eid = r.text
    native = client.get(f"/api/v1/projects/{project}/sessions/S2_MR1", auth=MEMBER).json()
    assert native["id"] == eid and native["subject"] == "S2" and native["modality"] == "MR"
    assert native["date"] == "2024-05-06" and native["note"] == "first visit"
    assert native["MagneticFieldStrength"] == 1.5
    # PUT again: a change (200), the same ID; NULL clears.
    r = client.put(url, params={"xnat:mrSessionData/note": "NULL", "time": "08:00"}, auth=MEMBER)
    assert (r.status_code, r.text) == (200, eid)
    native = client.get(f"/api/v1/projects/{project}/sessions/S2_MR1", auth=MEMBER).json()
    assert native["note"] == "" and native["time"] == "08:00:00"
    # A new label renames; an existing one is a 409, as XNAT answers it.
    r = client.put(f"/data/experiments/{eid}", params={"label": "S1_MR1"}, auth=MEMBER)
    assert r.status_code == 409
    r = client.put(f"/data/experiments/{eid}", params={"label": "S2_MR2"}, auth=MEMBER)
    assert r.status_code == 200
    assert client.get(f"/api/v1/projects/{project}/sessions/S2_MR2", auth=MEMBER).status_code == 200


def test_put_scan_creates_then_changes(client: TestClient, filled: dict[str, Any]) -> None:
    project, eid = filled["project"], filled["mr"]
    url = f"/data/projects/{project}/subjects/S1/experiments/S1_MR1/scans/5"
    r = client.put(
        url,
        params={
            "xsiType": "xnat:mrScanData",
            "xnat:mrScanData/type": "DWI",
            "xnat:imageScanData/series_description": "ep2d_diff",
            "quality": "questionable",
        },
        auth=MEMBER,
    )
    assert (r.status_code, r.text) == (201, "5")
    native = client.get(f"/api/v1/projects/{project}/sessions/S1_MR1/scans/5", auth=MEMBER).json()
    assert (native["type"], native["SeriesDescription"], native["quality"], native["Modality"]) == (
        "DWI",
        "ep2d_diff",
        "questionable",
        "MR",
    )
    r = client.put(f"/data/experiments/{eid}/scans/5", params={"quality": "usable"}, auth=MEMBER)
    assert (r.status_code, r.text) == (200, "5")
    bad = client.put(f"/data/experiments/{eid}/scans/5", params={"quality": "meh"}, auth=MEMBER)
    assert bad.status_code == 400 and "quality" in bad.text
    for params, named in (
        ({"xsiType": "xnat:fooScanData"}, "xnat:fooScanData"),
        ({"xsiType": "xnat:mrScanData", "colour": "x"}, "colour"),
        ({"xsiType": "xnat:mrScanData", "frames": "many"}, "frames"),
    ):
        bad = client.put(f"/data/experiments/{eid}/scans/6", params=params, auth=MEMBER)
        assert bad.status_code == 400 and named in bad.text, bad.text
    bad = client.put(
        f"/data/experiments/{eid}/scans/bad%20id",
        params={"xsiType": "xnat:mrScanData"},
        auth=MEMBER,
    )
    assert bad.status_code == 400 and "id" in bad.text
    listed = client.get(f"/api/v1/projects/{project}/sessions/S1_MR1/scans", auth=MEMBER).json()
    assert sorted(s["id"] for s in listed["items"]) == ["1", "2", "5"]  # nothing half-made
    r = client.delete(f"/data/experiments/{eid}/scans/5?removeFiles=true", auth=OWNER)
    assert r.status_code == 200
    gone = client.get(f"/api/v1/projects/{project}/sessions/S1_MR1/scans/5", auth=MEMBER)
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"xsiType": "xnat:fooSessionData"}, "xnat:fooSessionData"),
        ({"xsiType": "xnat:mrSessionData", "colour": "blue"}, "colour"),
        ({"xsiType": "xnat:mrSessionData", "xnat:mrSessionData/colour": "x"}, "colour"),
        ({"xsiType": "xnat:mrSessionData", "xnat:subjectData/label": "x"}, "xnat:subjectData"),
        ({"xsiType": "xnat:mrSessionData", "date": "yesterday"}, "date"),
        ({"xsiType": "xnat:mrSessionData", "ID": "MY_ID"}, "ID"),
        ({"date": "2024-01-01"}, "xsiType"),
    ],
)
def test_bad_input_is_400_naming_it_and_creates_nothing(
    client: TestClient, filled: dict[str, Any], params: dict[str, str], named: str
) -> None:
    project = filled["project"]
    url = f"/data/projects/{project}/subjects/S2/experiments/NEW1"
    r = client.put(url, params=params, auth=MEMBER)
    assert r.status_code == 400 and named in r.text, r.text
    assert client.get(f"/api/v1/projects/{project}/sessions/NEW1", auth=MEMBER).status_code == 404


def test_label_rules_conflicts_and_permissions(client: TestClient, filled: dict[str, Any]) -> None:
    project = filled["project"]
    base = f"/data/projects/{project}/subjects/S2/experiments"
    mr = {"xsiType": "xnat:mrSessionData"}
    r = client.put(f"{base}/bad%20label!", params=mr, auth=MEMBER)
    assert r.status_code == 400 and "label" in r.text
    # The label exists under another subject: 409, never a silent move.
    r = client.put(f"{base}/S1_MR1", params=mr, auth=MEMBER)
    assert r.status_code == 409
    # Another type than the session has: 409.
    r = client.put(
        f"/data/projects/{project}/experiments/S1_MR1",
        params={"xsiType": "xnat:ctSessionData"},
        auth=MEMBER,
    )
    assert r.status_code == 409
    # A collaborator may read, not write: refused, nothing created or changed.
    r = client.put(f"{base}/NEW2", params=mr, auth=COLLABORATOR)
    assert r.status_code == 403
    assert client.get(f"/api/v1/projects/{project}/sessions/NEW2", auth=MEMBER).status_code == 404
    r = client.put(
        f"/data/projects/{project}/experiments/S1_MR1", params={"note": "x"}, auth=COLLABORATOR
    )
    assert r.status_code == 403
    # Unknown subject: 404; a guest: 401.
    assert (
        client.put(
            f"/data/projects/{project}/subjects/S9/experiments/N", params=mr, auth=MEMBER
        ).status_code
        == 404
    )
    assert client.put(f"{base}/NEW3", params=mr).status_code == 401


def test_delete_experiment(client: TestClient, filled: dict[str, Any]) -> None:
    project, eid = filled["project"], filled["ct"]
    # Deleting needs the owner, as under /api/v1.
    assert client.delete(f"/data/experiments/{eid}", auth=MEMBER).status_code == 403
    r = client.delete(
        f"/data/projects/{project}/subjects/S1/experiments/S1_CT1?removeFiles=true", auth=OWNER
    )
    assert r.status_code == 200
    assert client.get(f"/api/v1/projects/{project}/sessions/S1_CT1", auth=OWNER).status_code == 404
    assert client.delete(f"/data/experiments/{eid}", auth=OWNER).status_code == 404


def test_listing_is_one_query_whatever_its_length(
    client: TestClient, filled: dict[str, Any], ctx: Context
) -> None:
    """No query per row: the statements reading sessions do not grow with the sessions."""
    from sqlalchemy import event

    project = filled["project"]
    url = f"/data/projects/{project}/experiments?format=json"

    def statements() -> int:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(ctx.db.engine, "before_cursor_execute", count)
        try:
            assert client.get(url, auth=MEMBER).status_code == 200
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", count)
        return len(seen)

    statements()  # once before: what a first request does once (a sign-in's bookkeeping)
    before = statements()
    for n in range(20):
        sessions.create(ctx, SYSTEM, project, SessionCreate(label=f"S2_X{n}", subject="S2"))
    assert statements() == before
    assert len(result(client.get(url, auth=MEMBER))) == 22
