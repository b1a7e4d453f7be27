"""XML documents written from the served XSD: attributes where the type declares them,
elements in its order, child lists in their wrappers, typed children with xsi:type."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from scandepot.api.xnat.documents import as_xml
from scandepot.api.xnat.items import Child, Item

X = "{http://nrg.wustl.edu/xnat}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def test_a_session_document() -> None:
    scan = Item("xnat:mrScanData", {"ID": "3", "type": "T1w", "series_description": "T1w"})
    session = Item(
        "xnat:mrSessionData",
        {
            "ID": "SD_E00001",
            "project": "P1",
            "label": "E1",
            "modality": "MR",
            "date": "2024-05-01",
            "subject_ID": "SD_S00001",
            "scanner": "MR1",
            "scanner/manufacturer": "SIEMENS",
            "fieldStrength": "3.0",
            "note": None,
        },
        children=[Child("scans/scan", [scan])],
    )
    doc = ET.fromstring(as_xml(session))
    assert doc.tag == f"{X}MRSession"
    assert (doc.get("ID"), doc.get("label"), doc.get("modality")) == ("SD_E00001", "E1", "MR")
    # Elements in the XSD's order: experimentData's, then subjectAssessorData's, ...
    assert [e.tag.removeprefix(X) for e in doc] == [
        "date",
        "subject_ID",
        "scanner",
        "scans",
        "fieldStrength",
    ]
    scanner = doc.find(f"{X}scanner")
    assert scanner is not None and scanner.text == "MR1"
    assert scanner.get("manufacturer") == "SIEMENS"
    written = doc.find(f"{X}scans/{X}scan")
    assert written is not None and written.get(XSI_TYPE) == "xnat:mrScanData"
    assert (written.get("ID"), written.get("type")) == ("3", "T1w")
    assert written.findtext(f"{X}series_description") == "T1w"
