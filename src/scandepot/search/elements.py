"""The kinds of object a search lists (XNAT's elements) and the fields each offers.

Four levels of the archive answer searches: projects (``xnat:projectData``), subjects
(``xnat:subjectData``), sessions (``xnat:mrSessionData`` and the other session types,
told apart by the session's modality, and ``xnat:imageSessionData`` for all of them) and
scans (``xnat:mrScanData`` and the others, by the scan's modality). A field is named as
XNAT's display fields name it (``SESSION_ID``, ``SUBJECT_ID``, ``PROJECT``, ``LABEL``,
``DATE``...) or by its path in the element's schema (``ID``, ``label``, ``subject_ID``,
``demographics/gender``), case aside; both reach the same column of the catalog.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, literal

from scandepot.catalog.archive import Project, Scan, Session, Subject
from scandepot.errors import BadRequest, NotFound


class Level(enum.IntEnum):
    """Where an element's rows stand in the hierarchy; a search joins upwards only."""

    PROJECT = 1
    SUBJECT = 2
    SESSION = 3
    SCAN = 4


class Kind(enum.StrEnum):
    """How a field's values compare: text, whole numbers, decimals, dates, times."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"


@dataclass(frozen=True, slots=True)
class Field:
    id: str  # the display field's ID, as XNAT names it
    column: Any  # the catalog's column (a SQLAlchemy expression)
    kind: Kind
    header: str  # what a person reads above it
    paths: tuple[str, ...] = ()  # the schema paths that name it too


@dataclass(frozen=True, slots=True)
class Element:
    name: str
    level: Level
    description: str
    fields: Mapping[str, Field]  # by ID and by path, upper-cased
    defaults: tuple[str, ...]  # the columns of a search that names none
    modalities: frozenset[str] | None = None  # None: every row of the level
    listed: tuple[Field, ...] = field(default=())  # each field once, in order

    def field(self, name: str) -> Field:
        found = self.fields.get(name.strip().upper())
        if found is None:
            raise BadRequest(f"Unknown field '{self.name}/{name}'.", field="field_ID")
        return found

    def condition(self) -> ColumnElement[bool] | None:
        """SQL condition on the level's rows that are of this element's type."""
        if self.modalities is None:
            return None
        if self.level == Level.SCAN:
            modality: Any = func.coalesce(Scan.Modality, Session.modality, literal("MR"))
        else:
            modality = func.coalesce(Session.modality, literal("MR"))
        matches: ColumnElement[bool] = modality.in_(sorted(self.modalities))
        return matches


def _fields(*fields: Field) -> dict[str, Field]:
    index: dict[str, Field] = {}
    for f in fields:
        for name in (f.id, *f.paths):
            index[name.upper()] = f
    return index


S, N, F, D, T, DT = Kind.STRING, Kind.INTEGER, Kind.FLOAT, Kind.DATE, Kind.TIME, Kind.DATETIME

PROJECT_FIELDS = (
    Field("ID", Project.label, S, "ID", ("ID",)),
    Field("SECONDARY_ID", Project.name, S, "Running Title", ("secondary_ID",)),
    Field("NAME", Project.name, S, "Title", ("name",)),
    Field("DESCRIPTION", Project.description, S, "Description", ("description",)),
    Field("ACCESSIBILITY", Project.accessibility, S, "Accessibility", ("accessibility",)),
    Field("INSERT_DATE", Project.created_at, DT, "Inserted"),
)
SUBJECT_FIELDS = (
    Field("SUBJECT_ID", Subject.stable_id, S, "Subject", ("ID",)),
    Field("SUBJECTID", Subject.stable_id, S, "Subject ID"),
    Field("SUBJECT_LABEL", Subject.label, S, "Subject label", ("label",)),
    Field("LABEL", Subject.label, S, "Label"),
    Field("PROJECT", Project.label, S, "Project", ("project",)),
    Field("GENDER_TEXT", Subject.sex, S, "M/F", ("demographics/gender", "GENDER")),
    Field("AGE", Subject.age, N, "Age", ("demographics/age",)),
    Field("YOB", Subject.birth_year, N, "YOB", ("demographics/yob",)),
    Field("SUB_GROUP", Subject.group, S, "Group", ("group",)),
    Field("INSERT_DATE", Subject.created_at, DT, "Inserted"),
)
SESSION_FIELDS = (
    Field("SESSION_ID", Session.stable_id, S, "Session", ("ID",)),
    Field("SUBJECT_ID", Subject.stable_id, S, "Subject", ("subject_ID",)),
    Field("PROJECT", Project.label, S, "Project", ("project",)),
    Field("LABEL", Session.label, S, "Label", ("label",)),
    Field("DATE", Session.date, D, "Date", ("date",)),
    Field("TIME", Session.time, T, "Time", ("time",)),
    Field("AGE", Subject.age, N, "Age", ("age",)),
    Field("MODALITY", Session.modality, S, "Modality", ("modality",)),
    Field("SCANNER", Session.StationName, S, "Scanner", ("scanner",)),
    Field(
        "SCANNER_MANUFACTURER", Session.Manufacturer, S, "Manufacturer", ("scanner/manufacturer",)
    ),
    Field("SCANNER_MODEL", Session.ManufacturerModelName, S, "Model", ("scanner/model",)),
    Field("FIELD_STRENGTH", Session.MagneticFieldStrength, F, "Field strength", ("fieldStrength",)),
    Field("ACQ_SITE", Session.InstitutionName, S, "Site", ("acquisition_site",)),
    Field("UID", Session.StudyInstanceUID, S, "Study UID", ("UID",)),
    Field("DCMACCESSIONNUMBER", Session.AccessionNumber, S, "Accession #", ("dcmAccessionNumber",)),
    Field("DCMPATIENTID", Session.PatientID, S, "Patient ID", ("dcmPatientId",)),
    Field("DCMPATIENTNAME", Session.PatientName, S, "Patient name", ("dcmPatientName",)),
    Field("NOTE", Session.note, S, "Notes", ("note",)),
    Field("INSERT_DATE", Session.created_at, DT, "Inserted"),
)
SCAN_FIELDS = (
    Field("ID", Scan.label, S, "Scan", ("ID",)),
    Field("TYPE", Scan.type, S, "Type", ("type",)),
    Field("SERIES_DESCRIPTION", Scan.SeriesDescription, S, "Series", ("series_description",)),
    Field("QUALITY", Scan.quality, S, "Quality", ("quality",)),
    Field("NOTE", Scan.note, S, "Notes", ("note",)),
    Field("FRAMES", Scan.frames, N, "Frames", ("frames",)),
    Field("MODALITY", Scan.Modality, S, "Modality", ("modality",)),
    Field("BODY_PART", Scan.BodyPartExamined, S, "Body part", ("bodyPartExamined",)),
    Field("UID", Scan.SeriesInstanceUID, S, "Series UID", ("UID",)),
    Field("IMAGE_SESSION_ID", Session.stable_id, S, "Session", ("image_session_ID",)),
    Field("SESSION_LABEL", Session.label, S, "Session label"),
    Field("SUBJECT_ID", Subject.stable_id, S, "Subject"),
    Field("PROJECT", Project.label, S, "Project", ("project",)),
    Field("INSERT_DATE", Scan.created_at, DT, "Inserted"),
)

# DICOM modality -> the XNAT type of its sessions and scans (XNAT 1.8's xnat: schema).
# A session without a modality is an MR session, as one created without a type is.
TYPES_BY_MODALITY = {
    "MR": "mr",
    "CT": "ct",
    "PT": "pet",
    "US": "us",
    "CR": "cr",
    "DX": "dx",
    "MG": "mg",
    "NM": "nm",
    "XA": "xa",
    "RF": "rf",
    "OT": "otherDicom",
}
_SESSION_DEFAULTS = ("SESSION_ID", "SUBJECT_ID", "PROJECT", "LABEL", "DATE", "MODALITY")
_SCAN_DEFAULTS = ("ID", "TYPE", "SERIES_DESCRIPTION", "IMAGE_SESSION_ID", "PROJECT")


def _element(
    name: str,
    level: Level,
    description: str,
    fields: tuple[Field, ...],
    defaults: tuple[str, ...],
    modalities: frozenset[str] | None = None,
) -> Element:
    return Element(name, level, description, _fields(*fields), defaults, modalities, fields)


def _catalogue() -> dict[str, Element]:
    found = [
        _element("xnat:projectData", Level.PROJECT, "Project", PROJECT_FIELDS, ("ID", "NAME")),
        _element(
            "xnat:subjectData",
            Level.SUBJECT,
            "Subject",
            SUBJECT_FIELDS,
            ("SUBJECTID", "SUBJECT_LABEL", "PROJECT", "GENDER_TEXT", "AGE"),
        ),
    ]
    for generic in ("xnat:experimentData", "xnat:subjectAssessorData", "xnat:imageSessionData"):
        found.append(_element(generic, Level.SESSION, "Session", SESSION_FIELDS, _SESSION_DEFAULTS))
    found.append(_element("xnat:imageScanData", Level.SCAN, "Scan", SCAN_FIELDS, _SCAN_DEFAULTS))
    for modality, prefix in TYPES_BY_MODALITY.items():
        only = frozenset({modality})
        found.append(
            _element(
                f"xnat:{prefix}SessionData",
                Level.SESSION,
                f"{modality} Session",
                SESSION_FIELDS,
                _SESSION_DEFAULTS,
                only,
            )
        )
        found.append(
            _element(
                f"xnat:{prefix}ScanData",
                Level.SCAN,
                f"{modality} Scan",
                SCAN_FIELDS,
                _SCAN_DEFAULTS,
                only,
            )
        )
    return {e.name.lower(): e for e in found}


ELEMENTS = _catalogue()


def element(name: str) -> Element:
    """The element ``name`` (case aside); 400 naming it when there is none."""
    found = ELEMENTS.get(name.strip().lower())
    if found is None:
        raise BadRequest(f"Unknown element '{name}'.", field="element_name")
    return found


def described(name: str) -> Element:
    """The element ``name`` for a description of its fields: 404 when there is none."""
    found = ELEMENTS.get(name.strip().lower())
    if found is None:
        raise NotFound(f"Unknown element '{name}'.", field="element")
    return found
