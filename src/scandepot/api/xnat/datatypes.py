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

PROJECT = "xnat:projectData"
SUBJECT = "xnat:subjectData"
DEMOGRAPHICS = "xnat:demographicData"
RESOURCE = "xnat:resourceCatalog"
EXPERIMENT = "xnat:experimentData"

# DICOM Modality (0008,0060) -> the prefix of XNAT's session and scan types.
_PREFIXES: dict[str, str] = {
    "MR": "mr",
    "CT": "ct",
    "PT": "pet",
    "US": "us",
    "CR": "cr",
    "DX": "dx",
    "MG": "mg",
    "XA": "xa",
    "RF": "rf",
    "NM": "nm",
    "IO": "io",
    "OP": "op",
    "OPT": "opt",
    "SM": "sm",
    "XC": "xc",
    "ES": "es",
    "GM": "gm",
    "ECG": "ecg",
    "EEG": "eeg",
    "MEG": "meg",
    "HD": "hd",
    "EPS": "eps",
    "SR": "sr",
}
# Series that accompany images rather than make a session of their own kind.
_ACCOMPANYING = frozenset({"SR", "SEG", "PR", "KO", "REG", "SC", "OT", "DOC", "RTSTRUCT"})
_RT = frozenset({"RTIMAGE", "RTDOSE", "RTPLAN", "RTSTRUCT", "RTRECORD"})
# Scan types beyond the session prefixes: series kinds XNAT gives a scan type of their own.
_SCAN_ONLY: dict[str, str] = {"SC": "sc", "SEG": "seg", "RTIMAGE": "rtImage"}

OTHER_SESSION = "xnat:otherDicomSessionData"
OTHER_SCAN = "xnat:otherDicomScanData"

SESSION_TYPES: tuple[str, ...] = (
    "xnat:mrSessionData",
    "xnat:petmrSessionData",
    *(f"xnat:{p}SessionData" for p in _PREFIXES.values() if p != "mr"),
    "xnat:rtSessionData",
    OTHER_SESSION,
)
SCAN_TYPES: tuple[str, ...] = (
    *(f"xnat:{p}ScanData" for p in _PREFIXES.values()),
    *(f"xnat:{p}ScanData" for p in _SCAN_ONLY.values()),
    OTHER_SCAN,
)


def modalities(value: str | None) -> list[str]:
    """A session's modality as the catalog keeps it ("MR", or "MR/PT" for several)."""
    if not value:
        return []
    return [m.strip().upper() for m in value.replace("\\", "/").split("/") if m.strip()]


def session_type(modality: str | None) -> str:
    """The session type of a session with this modality: PET with MR is PET/MR, PET with
    anything else PET (a PET/CT), else the first imaging modality; reports, segmentations
    and other companions only when nothing else is there."""
    found = modalities(modality)
    if "PT" in found:
        return "xnat:petmrSessionData" if "MR" in found else "xnat:petSessionData"
    imaging = [m for m in found if m not in _ACCOMPANYING] or found
    for m in imaging:
        if m in _PREFIXES:
            return f"xnat:{_PREFIXES[m]}SessionData"
        if m in _RT:
            return "xnat:rtSessionData"
    return OTHER_SESSION


def scan_type(modality: str | None, *, session_modality: str | None = None) -> str:
    """The scan type of a series with this Modality; a series without one takes its
    session's."""
    m = (modality or "").strip().upper()
    if not m:
        found = modalities(session_modality)
        m = found[0] if len(found) == 1 else ""
    if m in _PREFIXES:
        return f"xnat:{_PREFIXES[m]}ScanData"
    if m in _SCAN_ONLY:
        return f"xnat:{_SCAN_ONLY[m]}ScanData"
    return OTHER_SCAN


@dataclass(frozen=True, slots=True)
class SearchField:
    """One of a type's search ("display") fields, as ``/data/search/elements/{type}``
    lists it."""

    id: str
    header: str
    type: str = "string"  # string, integer, float, date, time
    description: str = ""


PROJECT_FIELDS: tuple[SearchField, ...] = (
    SearchField("ID", "ID", description="The project's ID (its label)"),
    SearchField("SECONDARY_ID", "Running title"),
    SearchField("NAME", "Name"),
    SearchField("DESCRIPTION", "Description"),
    SearchField("KEYWORDS", "Keywords"),
    SearchField("INSERT_DATE", "Inserted", "date"),
)
SUBJECT_FIELDS: tuple[SearchField, ...] = (
    SearchField("SUBJECT_ID", "Subject", description="The site-wide subject ID"),
    SearchField("SUBJECT_LABEL", "Label"),
    SearchField("PROJECT", "Project"),
    SearchField("GENDER_TEXT", "Gender"),
    SearchField("AGE", "Age", "integer"),
    SearchField("YOB", "YOB", "integer"),
    SearchField("SUB_GROUP", "Group"),
    SearchField("INSERT_DATE", "Inserted", "date"),
)
SESSION_FIELDS: tuple[SearchField, ...] = (
    SearchField("SESSION_ID", "Session", description="The site-wide session ID"),
    SearchField("LABEL", "Label"),
    SearchField("SUBJECT_ID", "Subject", description="The site-wide subject ID"),
    SearchField("SUBJECT_LABEL", "Subject label"),
    SearchField("PROJECT", "Project"),
    SearchField("DATE", "Date", "date"),
    SearchField("TIME", "Time", "time"),
    SearchField("MODALITY", "Modality"),
    SearchField("UID", "Study Instance UID"),
    SearchField("SCANNER", "Scanner"),
    SearchField("INSERT_DATE", "Inserted", "date"),
)
SCAN_FIELDS: tuple[SearchField, ...] = (
    SearchField("ID", "Scan"),
    SearchField("TYPE", "Type"),
    SearchField("SERIES_DESCRIPTION", "Series description"),
    SearchField("QUALITY", "Quality"),
    SearchField("MODALITY", "Modality"),
    SearchField("FRAMES", "Frames", "integer"),
    SearchField("UID", "Series Instance UID"),
    SearchField("IMAGE_SESSION_ID", "Session", description="The site-wide session ID"),
    SearchField("PROJECT", "Project"),
)


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
