"""The attributes a DICOM query matches on and returns, and where each one is kept.

One table for QIDO-RS and C-FIND: each attribute's tag, VR, query level, and either the
catalog column that holds it or the name of the value the engine computes (counts,
Modalities in Study, Instance Availability). ``REQUIRED`` holds the return attributes
PS3.18 §10.6.3.3 (Tables 10.6.3-3, -4, -5) asks of each level; ``UNIQUE`` the unique key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydicom.datadict import dictionary_keyword, dictionary_VR, keyword_for_tag, tag_for_keyword

from scandepot.catalog.archive import Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.errors import BadRequest


class Level(StrEnum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"


# The order of the levels, top down.
DEPTH = {Level.PATIENT: 0, Level.STUDY: 1, Level.SERIES: 2, Level.IMAGE: 3}


@dataclass(frozen=True, slots=True)
class Attribute:
    keyword: str
    level: Level
    column: Any = None  # the catalog column (an ORM attribute), or None when computed
    computed: str | None = None  # the name of a computed value (see query.results)
    tag: int = 0
    vr: str = ""

    @property
    def matchable(self) -> bool:
        """Whether a query may match on it (every column, and Modalities in Study)."""
        return self.column is not None or self.computed == "modalities"


def _a(keyword: str, level: Level, column: Any = None, computed: str | None = None) -> Attribute:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return Attribute(keyword, level, column, computed, int(tag), str(dictionary_VR(tag)))


_P, _ST, _SE, _I = Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE

ATTRIBUTES: dict[str, Attribute] = {
    a.keyword: a
    for a in (
        # Patient (a study's attributes: the catalog keeps them with each session)
        _a("PatientName", _P, Session.PatientName),
        _a("PatientID", _P, Session.PatientID),
        _a("PatientBirthDate", _P, Session.PatientBirthDate),
        _a("PatientSex", _P, Session.PatientSex),
        _a("NumberOfPatientRelatedStudies", _P, computed="patient_studies"),
        # Study
        _a("StudyInstanceUID", _ST, Session.StudyInstanceUID),
        _a("StudyDate", _ST, Session.date),
        _a("StudyTime", _ST, Session.time),
        _a("AccessionNumber", _ST, Session.AccessionNumber),
        _a("StudyID", _ST, Session.StudyID),
        _a("StudyDescription", _ST, Session.StudyDescription),
        _a("ReferringPhysicianName", _ST, Session.ReferringPhysicianName),
        _a("ModalitiesInStudy", _ST, computed="modalities"),
        _a("NumberOfStudyRelatedSeries", _ST, computed="study_series"),
        _a("NumberOfStudyRelatedInstances", _ST, computed="study_instances"),
        # Series (the equipment is kept with the session: one scanner a session)
        _a("SeriesInstanceUID", _SE, Scan.SeriesInstanceUID),
        _a("Modality", _SE, Scan.Modality),
        _a("SeriesNumber", _SE, Scan.SeriesNumber),
        _a("SeriesDescription", _SE, Scan.SeriesDescription),
        _a("BodyPartExamined", _SE, Scan.BodyPartExamined),
        _a("SeriesDate", _SE, Scan.SeriesDate),
        _a("SeriesTime", _SE, Scan.SeriesTime),
        _a("Manufacturer", _SE, Session.Manufacturer),
        _a("ManufacturerModelName", _SE, Session.ManufacturerModelName),
        _a("InstitutionName", _SE, Session.InstitutionName),
        _a("StationName", _SE, Session.StationName),
        _a("NumberOfSeriesRelatedInstances", _SE, computed="series_instances"),
        # Instance
        _a("SOPInstanceUID", _I, Instance.SOPInstanceUID),
        _a("SOPClassUID", _I, Instance.SOPClassUID),
        _a("InstanceNumber", _I, Instance.InstanceNumber),
        _a("Rows", _I, Instance.Rows),
        _a("Columns", _I, Instance.Columns),
        _a("BitsAllocated", _I, Instance.BitsAllocated),
        _a("NumberOfFrames", _I, Instance.NumberOfFrames),
        _a("AvailableTransferSyntaxUID", _I, Instance.TransferSyntaxUID),
        # Every level: everything the catalog holds is on line.
        _a("InstanceAvailability", _I, computed="availability"),
    )
}

UNIQUE = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}

# PS3.18 Tables 10.6.3-3, -4, -5 (what the catalog knows of them; Timezone Offset From
# UTC, Performed Procedure Step Start Date/Time and the Request Attributes Sequence are
# "if known", and it does not know them). Retrieve URL is added by QIDO-RS, which knows
# the root a search came in on.
REQUIRED: dict[Level, tuple[str, ...]] = {
    Level.PATIENT: (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "NumberOfPatientRelatedStudies",
    ),
    Level.STUDY: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "InstanceAvailability",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
    ),
    Level.SERIES: (
        "Modality",
        "SeriesDescription",
        "SeriesInstanceUID",
        "SeriesNumber",
        "NumberOfSeriesRelatedInstances",
        "SeriesDate",
        "SeriesTime",
    ),
    Level.IMAGE: (
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceAvailability",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
    ),
}

# C-FIND's required (R) and unique (U) keys of each level (PS3.4 C.6.1.1.2 to C.6.1.1.5,
# Patient Root and Study Root alike): an SCP returns them for every match.
CFIND_REQUIRED: dict[Level, tuple[str, ...]] = {
    Level.PATIENT: ("PatientName", "PatientID"),
    Level.STUDY: (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "PatientName",
        "PatientID",
        "StudyID",
        "StudyInstanceUID",
    ),
    Level.SERIES: ("Modality", "SeriesNumber", "SeriesInstanceUID"),
    Level.IMAGE: ("InstanceNumber", "SOPInstanceUID"),
}

# Attributes of these levels belong to a query at the key's level (PATIENT with STUDY:
# in the Study Root model a patient's attributes are a study's).
_LEVELS_OF = {
    Level.PATIENT: (Level.PATIENT,),
    Level.STUDY: (Level.PATIENT, Level.STUDY),
    Level.SERIES: (Level.PATIENT, Level.STUDY, Level.SERIES),
    Level.IMAGE: (Level.PATIENT, Level.STUDY, Level.SERIES, Level.IMAGE),
}


def level_of(keyword: str, query_level: Level) -> Level:
    """The level an attribute counts at in a query of ``query_level``."""
    if keyword == "InstanceAvailability":
        return query_level  # available at every level
    return ATTRIBUTES[keyword].level


def allowed(keyword: str, query_level: Level) -> bool:
    """Whether ``keyword`` may be matched or returned in a query at ``query_level``."""
    return level_of(keyword, query_level) in _LEVELS_OF[query_level]


def keyword_of(name: str, parameter: str | None = None) -> str:
    """The keyword of an attribute given by keyword or by tag (``00100010``); an unknown
    name is a :class:`BadRequest` naming ``parameter`` (the name itself by default)."""
    field = parameter or name
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        keyword = keyword_for_tag(int(name, 16))
        if keyword:
            return str(keyword)
        raise BadRequest(f"{name} is no attribute of the DICOM dictionary.", field=field)
    tag = tag_for_keyword(name) if name else None
    if tag is not None:
        return str(dictionary_keyword(tag))
    raise BadRequest(f"{name!r} is no DICOM attribute keyword or tag.", field=field)
