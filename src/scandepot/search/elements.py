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

from sqlalchemy import String, cast, null

from scandepot.catalog.archive import Project, Scan, Session, Subject
from scandepot.catalog.labels import check_label
from scandepot.errors import BadRequest, Invalid
from scandepot.search import types


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
    WORDS = "words"  # a list kept as JSON, written space-separated


# The TYPE /data/search/elements gives a field of each kind, as XNAT names types.
TYPE_NAMES = {Kind.WORDS: "string", Kind.DATETIME: "date"}


@dataclass(frozen=True, slots=True)
class Field:
    id: str  # the display field's ID, as XNAT names it
    column: Any  # the catalog's column (a SQLAlchemy expression)
    kind: Kind
    header: str  # what a person reads above it
    paths: tuple[str, ...] = ()  # the schema paths that name it too
    description: str = ""
    sessions_of: str | None = None  # a count of the project's sessions of this type

    @property
    def type(self) -> str:
        return TYPE_NAMES.get(self.kind, self.kind.value)


@dataclass(frozen=True, slots=True)
class Element:
    name: str
    level: Level
    description: str
    fields: Mapping[str, Field]  # by ID and by path, upper-cased
    defaults: tuple[str, ...]  # the columns of a search that names none
    type_name: str | None = None  # the type of session or scan it is; None: every row
    listed: tuple[Field, ...] = field(default=())  # each field once, in order

    def field(self, name: str) -> Field:
        found = self.fields.get(name.strip().upper())
        if found is None and self.level == Level.SUBJECT:
            found = custom_field(name.strip())
        if found is None:
            raise BadRequest(f"Unknown field '{self.name}/{name}'.", field="field_ID")
        return found


# A subject's custom field, as xnatpy names it in a search (``SubjectData.fields["x"]``).
CUSTOM_FIELD = "XNAT_SUBJECTDATA_FIELD_MAP="


def custom_field(name: str) -> Field | None:
    """``XNAT_SUBJECTDATA_FIELD_MAP=grant``: the subject's custom field ``grant``, or None
    when ``name`` is no such name."""
    if not name.upper().startswith(CUSTOM_FIELD):
        return None
    key = name[len(CUSTOM_FIELD) :]
    try:
        check_label(key, field="field_ID")  # custom field names follow the label rule
    except Invalid:
        return None
    column = Subject.fields[key].as_string()
    return Field(f"XNAT_SUBJECTDATA_FIELD_MAP_{key.upper()}", column, Kind.STRING, key)


def _fields(*fields: Field) -> dict[str, Field]:
    index: dict[str, Field] = {}
    for f in fields:
        for name in (f.id, *f.paths):
            index[name.upper()] = f
    return index


S, N, F, D, T, DT = Kind.STRING, Kind.INTEGER, Kind.FLOAT, Kind.DATE, Kind.TIME, Kind.DATETIME
SITE_ID = "The site-wide {} ID"


def _unkept(field_id: str, header: str) -> Field:
    """A field of XNAT's that scandepot does not keep: always empty. pyxnat asks for them
    (its ``Subject.__repr__`` searches HANDEDNESS_TEXT, SES, RACE, ...), so they exist."""
    return Field(field_id, cast(null(), String), Kind.STRING, header, (), NOT_KEPT)


NOT_KEPT = "Not kept by scandepot: always empty"


def _count(field_id: str, session_type: str, header: str) -> Field:
    """The number of the project's sessions of a type (pyxnat prints a project with
    them); the search works it out (search.typed_rows.column_of)."""
    return Field(field_id, None, N, header, (), f"Number of {header}", session_type)


PROJECT_FIELDS = (
    Field("ID", Project.label, S, "ID", ("ID",), "The project's ID (its label)"),
    Field("SECONDARY_ID", Project.name, S, "Running title", ("secondary_ID",)),
    Field("NAME", Project.name, S, "Name", ("name",)),
    Field("DESCRIPTION", Project.description, S, "Description", ("description",)),
    Field("KEYWORDS", Project.keywords, Kind.WORDS, "Keywords", ("keywords",)),
    Field("ACCESSIBILITY", Project.accessibility, S, "Accessibility", ("accessibility",)),
    Field("PROJECT_ACCESS", Project.accessibility, S, "Accessibility"),
    # Who holds a role in a project is for its members to see (access.md), not for every
    # caller who may see the project: the field exists for pyxnat, and stays empty.
    _unkept("PROJECT_OWNERS", "Owners"),
    Field("INSERT_DATE", Project.created_at, DT, "Inserted"),
    _count("PROJ_MR_COUNT", "xnat:mrSessionData", "MR sessions"),
    _count("PROJ_CT_COUNT", "xnat:ctSessionData", "CT sessions"),
    _count("PROJ_PET_COUNT", "xnat:petSessionData", "PET sessions"),
    _count("PROJ_UT_COUNT", "xnat:usSessionData", "US sessions"),
)
SUBJECT_FIELDS = (
    Field("SUBJECT_ID", Subject.stable_id, S, "Subject", ("ID",), SITE_ID.format("subject")),
    Field("SUBJECTID", Subject.stable_id, S, "Subject ID", (), SITE_ID.format("subject")),
    Field("SUBJECT_LABEL", Subject.label, S, "Label", ("label", "LABEL")),
    Field("PROJECT", Project.label, S, "Project", ("project",)),
    Field("GENDER_TEXT", Subject.sex, S, "Gender", ("demographics/gender", "GENDER")),
    Field("AGE", Subject.age, N, "Age", ("demographics/age",)),
    Field("YOB", Subject.birth_year, N, "YOB", ("demographics/yob",)),
    Field("SUB_GROUP", Subject.group, S, "Group", ("group",)),
    Field("INSERT_DATE", Subject.created_at, DT, "Inserted"),
    _unkept("INSERT_USER", "Creator"),
    _unkept("HANDEDNESS_TEXT", "Handedness"),
    _unkept("SES", "SES"),
    _unkept("EDUC", "Education"),
    _unkept("ADD_IDS", "Additional IDs"),
    _unkept("RACE", "Race"),
    _unkept("ETHNICITY", "Ethnicity"),
)
SESSION_FIELDS = (
    Field("SESSION_ID", Session.stable_id, S, "Session", ("ID",), SITE_ID.format("session")),
    Field("LABEL", Session.label, S, "Label", ("label",)),
    Field(
        "SUBJECT_ID", Subject.stable_id, S, "Subject", ("subject_ID",), SITE_ID.format("subject")
    ),
    Field("SUBJECT_LABEL", Subject.label, S, "Subject label"),
    Field("PROJECT", Project.label, S, "Project", ("project",)),
    Field("DATE", Session.date, D, "Date", ("date",)),
    Field("TIME", Session.time, T, "Time", ("time",)),
    Field("AGE", Subject.age, N, "Age"),
    Field("MODALITY", Session.modality, S, "Modality", ("modality",)),
    Field("UID", Session.StudyInstanceUID, S, "Study Instance UID", ("UID",)),
    Field("SESSION_TYPE", Session.StudyDescription, S, "Session type", ("session_type",)),
    Field("STUDY_ID", Session.StudyID, S, "Study ID", ("study_id",)),
    Field("SCANNER", Session.StationName, S, "Scanner", ("scanner",)),
    Field(
        "SCANNER_MANUFACTURER", Session.Manufacturer, S, "Manufacturer", ("scanner/manufacturer",)
    ),
    Field("SCANNER_MODEL", Session.ManufacturerModelName, S, "Model", ("scanner/model",)),
    Field("FIELD_STRENGTH", Session.MagneticFieldStrength, F, "Field strength", ("fieldStrength",)),
    Field("ACQ_SITE", Session.InstitutionName, S, "Site", ("acquisition_site",)),
    Field("DCMACCESSIONNUMBER", Session.AccessionNumber, S, "Accession #", ("dcmAccessionNumber",)),
    Field("DCMPATIENTID", Session.PatientID, S, "Patient ID", ("dcmPatientId",)),
    Field("DCMPATIENTNAME", Session.PatientName, S, "Patient name", ("dcmPatientName",)),
    Field(
        "DCMPATIENTBIRTHDATE", Session.PatientBirthDate, S, "Birth date", ("dcmPatientBirthDate",)
    ),
    Field("NOTE", Session.note, S, "Notes", ("note",)),
    Field("INSERT_DATE", Session.created_at, DT, "Inserted"),
    _unkept("INSERT_USER", "Creator"),
)
SCAN_FIELDS = (
    Field("ID", Scan.label, S, "Scan", ("ID",)),
    Field("TYPE", Scan.type, S, "Type", ("type",)),
    Field(
        "SERIES_DESCRIPTION",
        Scan.SeriesDescription,
        S,
        "Series description",
        ("series_description",),
    ),
    Field("QUALITY", Scan.quality, S, "Quality", ("quality",)),
    Field("MODALITY", Scan.Modality, S, "Modality", ("modality",)),
    Field("FRAMES", Scan.frames, N, "Frames", ("frames",)),
    Field("UID", Scan.SeriesInstanceUID, S, "Series Instance UID", ("UID",)),
    Field("BODY_PART", Scan.BodyPartExamined, S, "Body part", ("bodyPartExamined",)),
    Field("START_DATE", Scan.SeriesDate, D, "Series date", ("start_date",)),
    Field("START_TIME", Scan.SeriesTime, T, "Series time", ("startTime",)),
    Field("NOTE", Scan.note, S, "Notes", ("note",)),
    Field(
        "IMAGE_SESSION_ID",
        Session.stable_id,
        S,
        "Session",
        ("image_session_ID",),
        SITE_ID.format("session"),
    ),
    Field("SESSION_LABEL", Session.label, S, "Session label"),
    Field("SUBJECT_ID", Subject.stable_id, S, "Subject", (), SITE_ID.format("subject")),
    Field("PROJECT", Project.label, S, "Project", ("project",)),
    Field("INSERT_DATE", Scan.created_at, DT, "Inserted"),
)

_SESSION_DEFAULTS = ("SESSION_ID", "SUBJECT_ID", "PROJECT", "LABEL", "DATE", "MODALITY")
_SCAN_DEFAULTS = ("ID", "TYPE", "SERIES_DESCRIPTION", "IMAGE_SESSION_ID", "PROJECT")
# Types every row of their level is: XNAT's supertypes of the session and scan types.
_ALL_SESSIONS = ("xnat:experimentData", "xnat:subjectAssessorData", "xnat:imageSessionData")
_ALL_SCANS = ("xnat:imageScanData",)


def _element(
    name: str,
    level: Level,
    fields: tuple[Field, ...],
    defaults: tuple[str, ...],
    type_name: str | None = None,
) -> Element:
    description = name.removeprefix("xnat:")
    return Element(name, level, description, _fields(*fields), defaults, type_name, fields)


def _catalogue() -> dict[str, Element]:
    subject_defaults = ("SUBJECTID", "SUBJECT_LABEL", "PROJECT", "GENDER_TEXT", "AGE")
    found = [
        _element("xnat:projectData", Level.PROJECT, PROJECT_FIELDS, ("ID", "NAME")),
        _element("xnat:subjectData", Level.SUBJECT, SUBJECT_FIELDS, subject_defaults),
    ]
    for name in _ALL_SESSIONS:
        found.append(_element(name, Level.SESSION, SESSION_FIELDS, _SESSION_DEFAULTS))
    for name in types.SESSION_TYPES:
        found.append(_element(name, Level.SESSION, SESSION_FIELDS, _SESSION_DEFAULTS, name))
    for name in _ALL_SCANS:
        found.append(_element(name, Level.SCAN, SCAN_FIELDS, _SCAN_DEFAULTS))
    for name in types.SCAN_TYPES:
        found.append(_element(name, Level.SCAN, SCAN_FIELDS, _SCAN_DEFAULTS, name))
    return {e.name.lower(): e for e in found}


ELEMENTS = _catalogue()


def element(name: str) -> Element:
    """The element ``name`` (case aside); 400 naming it when there is none."""
    found = ELEMENTS.get(name.strip().lower())
    if found is None:
        raise BadRequest(f"Unknown element '{name}'.", field="element_name")
    return found
