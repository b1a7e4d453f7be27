"""XNAT's data types of sessions and scans, and the DICOM modality each stands for.

A session's ``xsiType`` follows its modality (``MR`` is ``xnat:mrSessionData``), a scan's
its own (``xnat:mrScanData``); what has no modality, or one XNAT gives no type of its
own, is ``xnat:otherDicomSessionData`` / ``xnat:otherDicomScanData``, as XNAT files it.
"""

from __future__ import annotations

import functools

from scandepot.errors import Invalid

# DICOM modality (PS3.3 C.7.3.1.1.1) -> the XNAT type prefix, as XNAT names its types.
_PREFIX = {
    "MR": "mr",
    "CT": "ct",
    "PT": "pet",
    "NM": "nm",
    "US": "us",
    "CR": "cr",
    "DX": "dx",
    "MG": "mg",
    "XA": "xa",
    "RF": "rf",
    "OT": "otherDicom",
}
OTHER = "otherDicom"

SESSION_TYPES: dict[str, str | None] = {
    f"xnat:{prefix}SessionData": modality for modality, prefix in _PREFIX.items()
}
SESSION_TYPES["xnat:otherDicomSessionData"] = None
SCAN_TYPES: dict[str, str | None] = {
    f"xnat:{prefix}ScanData": modality for modality, prefix in _PREFIX.items()
}
SCAN_TYPES["xnat:otherDicomScanData"] = None

# Abstract types a listing may be narrowed to: every session is one of them.
ANY_SESSION = ("xnat:experimentData", "xnat:subjectAssessorData", "xnat:imageSessionData")

# XNAT's root elements of session documents (``<xnat:MRSession>``).
_ELEMENT = {
    "mr": "MRSession",
    "ct": "CTSession",
    "pet": "PETSession",
    "nm": "NMSession",
    "us": "USSession",
    "cr": "CRSession",
    "dx": "DXSession",
    "mg": "MGSession",
    "xa": "XASession",
    "rf": "RFSession",
    OTHER: "OtherDicomSession",
}


def _prefix(modality: str | None) -> str:
    return _PREFIX.get((modality or "").upper(), OTHER)


@functools.cache
def session_type(modality: str | None) -> str:
    return f"xnat:{_prefix(modality)}SessionData"


@functools.cache
def scan_type(modality: str | None) -> str:
    return f"xnat:{_prefix(modality)}ScanData"


def session_element(modality: str | None) -> str:
    """The name of the root element of the session's XML document, e.g. ``xnat:MRSession``."""
    return f"xnat:{_ELEMENT[_prefix(modality)]}"


def scan_element(modality: str | None) -> str:
    """The name of the root element of a scan's XML document, e.g. ``xnat:MRScan``."""
    return f"xnat:{_ELEMENT[_prefix(modality)].removesuffix('Session')}Scan"


def _lookup(table: dict[str, str | None], value: str) -> str | None:
    for name, modality in table.items():
        if name.lower() == value.lower():
            return modality
    raise KeyError(value)


def session_modality(xsi_type: str) -> str | None:
    """The modality a session of ``xsi_type`` has; 400 naming a type that is no session's."""
    try:
        return _lookup(SESSION_TYPES, xsi_type)
    except KeyError:
        raise Invalid(
            f"Unknown xsiType '{xsi_type}' for an experiment: use one of "
            f"{', '.join(SESSION_TYPES)}.",
            field="xsiType",
        ) from None


def scan_modality(xsi_type: str) -> str | None:
    """The modality a scan of ``xsi_type`` has; 400 naming a type that is no scan's."""
    try:
        return _lookup(SCAN_TYPES, xsi_type)
    except KeyError:
        raise Invalid(
            f"Unknown xsiType '{xsi_type}' for a scan: use one of {', '.join(SCAN_TYPES)}.",
            field="xsiType",
        ) from None


def listed(value: str | None) -> set[str] | None:
    """The session types a listing's ``xsiType=`` filter (comma-separated) keeps, in lower
    case; None for all (none given, or an abstract type every session is)."""
    if not value:
        return None
    kept: set[str] = set()
    for name in (v.strip() for v in value.split(",") if v.strip()):
        if name.lower() in (a.lower() for a in ANY_SESSION):
            return None
        session_modality(name)  # 400 for a type that is no session's
        kept.add(name.lower())
    return kept
