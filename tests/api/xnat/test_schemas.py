"""What xnatpy reads to build its object model: the schema list, the XSD documents,
the search elements, and the guest line on the site's page."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scandepot.api.xnat import datatypes
from tests.conftest import PASSWORD

XS = "{http://www.w3.org/2001/XMLSchema}"


def declared_types(client: TestClient) -> set[str]:
    root = ET.fromstring(client.get("/xapi/schemas/xnat").content)
    return {f"xnat:{t.get('name')}" for t in root.iter(f"{XS}complexType") if t.get("name")}


def test_schema_list_and_documents(client: TestClient) -> None:
    assert client.get("/xapi/schemas").json() == ["xnat"]
    r = client.get("/xapi/schemas/xnat")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    # xnatpy asks for xdat too when it reads only XNAT's default schemas.
    assert ET.fromstring(client.get("/xapi/schemas/xdat").content).tag == f"{XS}schema"
    missing = client.get("/xapi/schemas/security")
    assert missing.status_code == 404
    assert "<h3>Schema &#x27;security&#x27; not found.</h3>" in missing.text


def test_every_type_served_is_declared(client: TestClient) -> None:
    declared = declared_types(client)
    served = {e.name for e in datatypes.ELEMENTS}
    assert served <= declared
    for needed in ("xnat:demographicData", "xnat:imageSessionData", "xnat:resourceCatalog"):
        assert needed in declared


@pytest.mark.parametrize(
    ("modality", "expected"),
    [
        ("MR", "xnat:mrSessionData"),
        ("CT", "xnat:ctSessionData"),
        ("PT", "xnat:petSessionData"),
        ("CT/PT", "xnat:petSessionData"),
        ("MR/PT", "xnat:petmrSessionData"),
        ("US", "xnat:usSessionData"),
        ("SR/CT", "xnat:ctSessionData"),
        ("SR", "xnat:srSessionData"),
        ("RTSTRUCT", "xnat:rtSessionData"),
        ("OT", "xnat:otherDicomSessionData"),
        (None, "xnat:otherDicomSessionData"),
    ],
)
def test_session_type_of_a_modality(modality: str | None, expected: str) -> None:
    assert datatypes.session_type(modality) == expected


def test_scan_type_of_a_modality() -> None:
    assert datatypes.scan_type("MR") == "xnat:mrScanData"
    assert datatypes.scan_type("PT") == "xnat:petScanData"
    assert datatypes.scan_type("SEG") == "xnat:segScanData"
    assert datatypes.scan_type("KO") == "xnat:otherDicomScanData"
    assert datatypes.scan_type(None, session_modality="CT") == "xnat:ctScanData"
    assert datatypes.scan_type(None, session_modality="CT/PT") == "xnat:otherDicomScanData"


def test_search_elements(client: TestClient) -> None:
    r = client.get("/data/search/elements", params={"format": "json"})
    names = [row["ELEMENT_NAME"] for row in r.json()["ResultSet"]["Result"]]
    assert names[:3] == ["xnat:projectData", "xnat:subjectData", "xnat:mrSessionData"]
    r = client.get("/REST/search/elements/xnat:mrSessionData", params={"format": "json"})
    fields = [row["FIELD_ID"] for row in r.json()["ResultSet"]["Result"]]
    assert {"SESSION_ID", "LABEL", "SUBJECT_ID", "PROJECT", "DATE"} <= set(fields)
    assert client.get("/data/search/elements/xnat:nothing").status_code == 404


def test_guest_line_only_for_anonymous_visitors(client: TestClient, users: Any) -> None:
    guest = '<span id="user_info">Logged in as: <span style="color:red;">Guest</span>'
    assert guest in client.get("/").text
    r = client.post("/api/v1/auth/login", json={"login": "member", "password": PASSWORD})
    assert r.status_code == 200
    signed = client.get("/")
    assert "Signed in as" in signed.text and "user_info" not in signed.text


MODEL_CLASSES = (
    "ProjectData",
    "SubjectData",
    "DemographicData",
    "ExperimentData",
    "SubjectAssessorData",
    "ImageSessionData",
    "MrSessionData",
    "CtSessionData",
    "PetSessionData",
    "PetmrSessionData",
    "OtherDicomSessionData",
    "ImageScanData",
    "MrScanData",
    "PetScanData",
    "AbstractResource",
    "ResourceCatalog",
)


@pytest.mark.interop
@pytest.mark.parametrize("extension_types", [True, False])
def test_xnatpy_builds_its_model(xnatpy: Callable[..., Any], extension_types: bool) -> None:
    session = xnatpy("member", extension_types=extension_types)
    for name in MODEL_CLASSES:
        assert hasattr(session.classes, name), name
    lookup = session.XNAT_CLASS_LOOKUP
    assert lookup["xnat:mrSessionData"] is session.classes.MrSessionData
    assert issubclass(session.classes.MrSessionData, session.classes.ImageSessionData)
    assert session.classes.SubjectData._DISPLAY_IDENTIFIER == "label"
    # Search fields from /data/search/elements are injected into the classes.
    assert hasattr(session.classes.MrSessionData, "SESSION_ID")
    assert session.logged_in_user == "member"


@pytest.mark.interop
def test_xnatpy_connects_as_a_guest(xnat_server: str, caplog: pytest.LogCaptureFixture) -> None:
    import xnat

    caplog.set_level(logging.WARNING)
    session = xnat.connect(xnat_server, logger=logging.getLogger("xnatpy-guest"))
    try:
        assert session.logged_in_user == "guest"
        assert hasattr(session.classes, "SubjectData")
    finally:
        session.disconnect()
    assert not [r for r in caplog.records if "display fields" in r.getMessage()]
