"""The XNAT data types served, and which one a scandepot object is.

The types are declared in ``xsd/xnat.xsd`` (served at ``/xapi/schemas/xnat``): a
project is ``xnat:projectData``, a subject ``xnat:subjectData``, a session the session
type of its modality (``xnat:mrSessionData``, ``xnat:ctSessionData``, ...), a scan the
scan type of its series' Modality (0008,0060), a resource ``xnat:resourceCatalog``.

Each type also has the search fields ``/data/search/elements/{type}`` lists (XNAT's
"display fields": upper-case IDs such as ``SUBJECT_ID``, ``LABEL``); searches name
columns and constraints by them (``xnat:mrSessionData/LABEL``).
"""

from __future__ import annotations

from dataclasses import dataclass

from scandepot.search import elements as search_elements
from scandepot.search.types import OTHER_SCAN as OTHER_SCAN
from scandepot.search.types import OTHER_SESSION as OTHER_SESSION
from scandepot.search.types import SCAN_TYPES as SCAN_TYPES
from scandepot.search.types import SESSION_TYPES as SESSION_TYPES
from scandepot.search.types import modalities as modalities
from scandepot.search.types import scan_type as scan_type
from scandepot.search.types import session_type as session_type

PROJECT = "xnat:projectData"
SUBJECT = "xnat:subjectData"
DEMOGRAPHICS = "xnat:demographicData"
RESOURCE = "xnat:resourceCatalog"
EXPERIMENT = "xnat:experimentData"


@dataclass(frozen=True, slots=True)
class SearchField:
    """One of a type's search ("display") fields, as ``/data/search/elements/{type}``
    lists it."""

    id: str
    header: str
    type: str = "string"  # string, integer, float, date, time
    description: str = ""


def _listed(fields: tuple[search_elements.Field, ...]) -> tuple[SearchField, ...]:
    return tuple(SearchField(f.id, f.header, f.type, f.description) for f in fields)


# The search fields are those the search service answers (scandepot.search.elements).
PROJECT_FIELDS = _listed(search_elements.PROJECT_FIELDS)
SUBJECT_FIELDS = _listed(search_elements.SUBJECT_FIELDS)
SESSION_FIELDS = _listed(search_elements.SESSION_FIELDS)
SCAN_FIELDS = _listed(search_elements.SCAN_FIELDS)


@dataclass(frozen=True, slots=True)
class Element:
    name: str
    singular: str
    plural: str
    fields: tuple[SearchField, ...]


def _session_element(xsi_type: str) -> Element:
    prefix = xsi_type.removeprefix("xnat:").removesuffix("SessionData")
    words = {"otherDicom": "Other DICOM", "petmr": "PET/MR", "pet": "PET"}
    word = words.get(prefix, prefix.upper())
    return Element(xsi_type, f"{word} Session", f"{word} Sessions", SESSION_FIELDS)


def _scan_element(xsi_type: str) -> Element:
    prefix = xsi_type.removeprefix("xnat:").removesuffix("ScanData")
    word = {"otherDicom": "Other DICOM", "rtImage": "RT Image", "pet": "PET"}.get(
        prefix, prefix.upper()
    )
    return Element(xsi_type, f"{word} Scan", f"{word} Scans", SCAN_FIELDS)


ELEMENTS: tuple[Element, ...] = (
    Element(PROJECT, "Project", "Projects", PROJECT_FIELDS),
    Element(SUBJECT, "Subject", "Subjects", SUBJECT_FIELDS),
    *(_session_element(t) for t in SESSION_TYPES),
    *(_scan_element(t) for t in SCAN_TYPES),
)
ELEMENTS_BY_NAME: dict[str, Element] = {e.name.lower(): e for e in ELEMENTS}


def element(name: str) -> Element | None:
    """The element named so (XNAT's names are case-insensitive here)."""
    return ELEMENTS_BY_NAME.get(name.lower())
