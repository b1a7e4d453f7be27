"""A session and its scans as XNAT answers one experiment: the ``items`` JSON
(``format=json``) and the XML document (``format=xml``, e.g. ``<xnat:MRSession>``).

Both are made of one list of (XNAT name, value) pairs per object, so the JSON and the
XML cannot name a field differently. The names are those of XNAT's schema, as the XSD
at ``/xapi/schemas`` serves them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from scandepot.api.xnat import session_types
from scandepot.api.xnat.items import Child, Item, Value
from scandepot.catalog.archive import Scan, Session

XNAT_NS = "http://nrg.wustl.edu/xnat"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def xnat_date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def xnat_time(value: dt.time | None) -> str | None:
    return value.strftime("%H:%M:%S") if value is not None else None


def xnat_timestamp(value: dt.datetime | None) -> str | None:
    """As XNAT writes ``insert_date``: ``2024-05-01 10:11:12.345`` (UTC)."""
    if value is None:
        return None
    return value.isoformat(sep=" ", timespec="milliseconds")[:23]  # without "+00:00"


def _birth_date(value: str | None) -> str | None:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def session_attributes(session: Session) -> list[tuple[str, str | None]]:
    return [
        ("ID", session.stable_id),
        ("project", session.project.label),
        ("label", session.label),
        ("session_type", session.StudyDescription),
        ("modality", session.modality),
        ("UID", session.StudyInstanceUID),
        ("study_id", session.StudyID),
    ]


def session_elements(session: Session) -> list[tuple[str, str | None]]:
    """The session's elements in the order of the schema (experimentData, then
    subjectAssessorData, imageSessionData, then the modality's own); ``scans`` goes after
    ``scanner``."""
    elements = [
        ("date", xnat_date(session.date)),
        ("time", xnat_time(session.time)),
        ("note", _text(session.note)),
        ("acquisition_site", session.InstitutionName),
        ("subject_ID", session.subject.stable_id),
        *_scanner(session),
        ("dcmAccessionNumber", session.AccessionNumber),
        ("dcmPatientId", session.PatientID),
        ("dcmPatientName", session.PatientName),
        ("dcmPatientBirthDate", _birth_date(session.PatientBirthDate)),
    ]
    if session_types.session_type(session.modality) in FIELD_STRENGTH_TYPES:
        elements.append(("fieldStrength", _text(session.MagneticFieldStrength)))
    return elements


FIELD_STRENGTH_TYPES = ("xnat:mrSessionData", "xnat:petmrSessionData")


def _scanner(session: Session) -> list[tuple[str, str | None]]:
    return [
        ("scanner", session.StationName),
        ("scanner/manufacturer", session.Manufacturer),
        ("scanner/model", session.ManufacturerModelName),
    ]


def scan_attributes(scan: Scan) -> list[tuple[str, str | None]]:
    return [
        ("ID", scan.label),
        ("type", scan.type),
        ("UID", scan.SeriesInstanceUID),
        ("project", scan.session.project.label),
    ]


def scan_elements(scan: Scan) -> list[tuple[str, str | None]]:
    return [
        ("image_session_ID", scan.session.stable_id),
        ("note", _text(scan.note)),
        ("quality", scan.quality),
        ("series_description", scan.SeriesDescription),
        ("modality", scan.Modality),
        ("frames", _text(scan.frames)),
        ("startTime", xnat_time(scan.SeriesTime)),
        ("start_date", xnat_date(scan.SeriesDate)),
        ("bodyPartExamined", scan.BodyPartExamined),
    ]


def scan_xsi_type(scan: Scan) -> str:
    return session_types.scan_type(scan.Modality, scan.session.modality)


def scan_item(scan: Scan) -> Item:
    fields: dict[str, Value] = dict(scan_attributes(scan) + scan_elements(scan))
    fields["xnat_imagescandata_id"] = scan.id
    return Item(scan_xsi_type(scan), fields, created=scan.created_at)


def experiment_item(session: Session, scans: Sequence[Scan]) -> Item:
    fields: dict[str, Value] = dict(session_attributes(session) + session_elements(session))
    fields["subject_label"] = session.subject.label
    children = [Child("scans/scan", [scan_item(s) for s in scans])]
    return Item(
        session_types.session_type(session.modality), fields, children, created=session.created_at
    )


def _attrs(pairs: Sequence[tuple[str, str | None]]) -> str:
    return "".join(f" {name}={quoteattr(value)}" for name, value in pairs if value is not None)


def _elements(pairs: Sequence[tuple[str, str | None]], indent: str) -> list[str]:
    out: list[str] = []
    for name, value in pairs:
        if value is None or "/" in name:
            continue
        if name == "scanner":
            continue
        out.append(f"{indent}<xnat:{name}>{escape(value)}</xnat:{name}>\n")
    return out


def _scanner_xml(session: Session, indent: str) -> list[str]:
    pairs = dict(_scanner(session))
    attrs = _attrs(
        [("manufacturer", pairs["scanner/manufacturer"]), ("model", pairs["scanner/model"])]
    )
    station = pairs["scanner"]
    if station is None and not attrs:
        return []
    return [f"{indent}<xnat:scanner{attrs}>{escape(station or '')}</xnat:scanner>\n"]


def _scan_xml(scan: Scan) -> list[str]:
    attrs = _attrs(scan_attributes(scan))
    xsi_type = scan_xsi_type(scan)
    return [
        f'<xnat:scan{attrs} xsi:type="{xsi_type}">\n',
        *_elements(scan_elements(scan), "  "),
        "</xnat:scan>\n",
    ]


def scan_xml(scan: Scan) -> bytes:
    """One scan's document, as XNAT answers ``scans/{id}?format=xml``."""
    root = session_types.scan_element(scan_xsi_type(scan))
    attrs = _attrs(scan_attributes(scan))
    return "".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<{root}{attrs} xmlns:xnat="{XNAT_NS}" xmlns:xsi="{XSI_NS}">\n',
            *_elements(scan_elements(scan), ""),
            f"</{root}>\n",
        ]
    ).encode()


def experiment_xml(session: Session, scans: Sequence[Scan]) -> bytes:
    element = session_types.session_element(session.modality)
    elements = session_elements(session)
    split = next(i for i, (name, _) in enumerate(elements) if name == "scanner/model") + 1
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f"<{element}{_attrs(session_attributes(session))}"
        f' xmlns:xnat="{XNAT_NS}" xmlns:xsi="{XSI_NS}">\n',
        *_elements(elements[:split], ""),
        *_scanner_xml(session, ""),
    ]
    if scans:
        parts.append("<xnat:scans>\n")
        for scan in scans:
            parts.extend(_scan_xml(scan))
        parts.append("</xnat:scans>\n")
    parts.extend(_elements(elements[split:], ""))
    parts.append(f"</{element}>\n")
    return "".join(parts).encode()
