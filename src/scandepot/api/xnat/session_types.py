"""Sessions' and scans' XNAT types the other way round: the modality a type stands for
(to create a session of ``xnat:ctSessionData``), and the root element of each type's XML
document (``xnat:MRSession``). Which type an object *is* comes from
:mod:`scandepot.api.xnat.datatypes`, as the XSD declares them.
"""

from __future__ import annotations

import functools

from scandepot.api.xnat import datatypes
from scandepot.errors import Invalid

# Abstract types a listing may be narrowed to: every session is one of them.
ANY_SESSION = ("xnat:experimentData", "xnat:subjectAssessorData", "xnat:imageSessionData")
ANY_SCAN = "xnat:imageScanData"

# Type prefixes whose modality is not the prefix in capitals.
_MODALITY = {"pet": "PT", "petmr": "PT/MR", "rt": "RTIMAGE", "rtImage": "RTIMAGE"}
_ELEMENT_WORD = {"otherDicom": "OtherDicom", "rtImage": "RTImage"}
OTHER = "otherDicom"


def _prefix(xsi_type: str, suffix: str) -> str:
    return xsi_type.removeprefix("xnat:").removesuffix(suffix)


def _modality(prefix: str) -> str | None:
    return None if prefix == OTHER else _MODALITY.get(prefix, prefix.upper())


@functools.cache
def session_type(modality: str | None) -> str:
    return datatypes.session_type(modality)


@functools.cache
def scan_type(modality: str | None, session_modality: str | None = None) -> str:
    return datatypes.scan_type(modality, session_modality=session_modality)


def _named(types: tuple[str, ...], value: str) -> str | None:
    return next((t for t in types if t.lower() == value.lower()), None)


def session_modality(xsi_type: str) -> str | None:
    """The modality a new session of ``xsi_type`` gets; 400 naming a type that is no
    session's."""
    known = _named(datatypes.SESSION_TYPES, xsi_type)
    if known is None:
        raise Invalid(
            f"Unknown xsiType '{xsi_type}' for an experiment: use one of "
            f"{', '.join(datatypes.SESSION_TYPES)}.",
            field="xsiType",
        )
    return _modality(_prefix(known, "SessionData"))


def scan_modality(xsi_type: str) -> str | None:
    """The Modality a new scan of ``xsi_type`` gets; 400 naming a type that is no scan's."""
    known = _named(datatypes.SCAN_TYPES, xsi_type)
    if known is None:
        raise Invalid(
            f"Unknown xsiType '{xsi_type}' for a scan: use one of "
            f"{', '.join(datatypes.SCAN_TYPES)}.",
            field="xsiType",
        )
    return _modality(_prefix(known, "ScanData"))


def _element(prefix: str, kind: str) -> str:
    return f"xnat:{_ELEMENT_WORD.get(prefix, prefix.upper())}{kind}"


def session_element(modality: str | None) -> str:
    """The root element of the session's XML document, e.g. ``xnat:MRSession``."""
    return _element(_prefix(session_type(modality), "SessionData"), "Session")


def scan_element(xsi_type: str) -> str:
    """The root element of a scan's XML document, e.g. ``xnat:MRScan``."""
    return _element(_prefix(xsi_type, "ScanData"), "Scan")


def listed(value: str | None, types: tuple[str, ...], abstract: tuple[str, ...]) -> set[str] | None:
    """The types a listing's ``xsiType=`` filter (comma-separated) keeps, in lower case;
    None for all (none given, or an abstract type every row is)."""
    if not value:
        return None
    kept: set[str] = set()
    for name in (v.strip() for v in value.split(",") if v.strip()):
        if name.lower() in (a.lower() for a in abstract):
            return None
        if _named(types, name) is None:
            raise Invalid(f"Unknown xsiType '{name}'.", field="xsiType")
        kept.add(name.lower())
    return kept


def listed_sessions(value: str | None) -> set[str] | None:
    return listed(value, datatypes.SESSION_TYPES, ANY_SESSION)


def listed_scans(value: str | None) -> set[str] | None:
    return listed(value, datatypes.SCAN_TYPES, (ANY_SCAN,))
