"""The values PS3.15 Annex E's actions write: dummies by VR (D), shifted dates (C under
Retain Longitudinal Temporal Information with Modified Dates), cleaned free text (C under
Clean Descriptors and the like), and keyed pseudonyms for Patient ID and Name."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement

from scandepot.deid.model import Keys

# D: "a non-zero length value that may be a dummy value and consistent with the VR"
# (PS3.15 E.1.1, Table E.1-1 notes).
DUMMY: dict[str, object] = {
    "AE": "ANONYMOUS",
    "AS": "000D",
    "CS": "ANONYMOUS",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": "ANONYMOUS",
    "LT": "ANONYMOUS",
    "PN": "ANONYMOUS",
    "SH": "ANONYMOUS",
    "ST": "ANONYMOUS",
    "UC": "ANONYMOUS",
    "UT": "ANONYMOUS",
    "UR": "ANONYMOUS",
    "AT": 0,
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "SV": 0,
    "UL": 0,
    "US": 0,
    "UV": 0,
}
BINARY = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
# Text that Clean (C) rewrites; any other VR under C is removed (fail safe).
TEXT = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"})


def vr_of(elem: DataElement | RawDataElement) -> str:
    """The element's VR; a raw element read with implicit VR takes the dictionary's."""
    if elem.VR:
        return str(elem.VR)
    try:
        return str(dictionary_VR(elem.tag)).split(" or ")[0]
    except KeyError:
        return "UN"


def dummy(vr: str) -> object:
    if vr in BINARY:
        return b"\x00\x00"
    return DUMMY.get(vr, "ANONYMOUS")


def _shift_one(value: str, days: int, vr: str) -> str:
    """One DA or DT value moved by ``days``; "" when it is not a full date (fail safe)."""
    text = value.strip()
    try:
        day = dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    moved = (day + dt.timedelta(days=days)).strftime("%Y%m%d")
    return moved if vr == "DA" else moved + text[8:]


def shift_dates(value: object, days: int, vr: str) -> str | list[str]:
    """DA or DT, one value or many (PS3.5 6.2), each moved by ``days``."""
    if value is None or isinstance(value, str):
        return _shift_one(value or "", days, vr)
    assert isinstance(value, Iterable)
    return [_shift_one(str(v), days, vr) for v in value]


def clean_text(value: str, identifying: tuple[re.Pattern[str], ...]) -> str:
    """Free text with every identifying value removed (the original names, IDs, dates)."""
    for pattern in identifying:
        value = pattern.sub("", value)
    return value


def patterns(values: frozenset[str], words: frozenset[str]) -> tuple[re.Pattern[str], ...]:
    """Case-insensitive matchers: whole values anywhere, longest first so a whole name
    goes before its parts; then the words of names, as words."""
    ordered = sorted((v for v in values if len(v) >= 3), key=len, reverse=True)
    found = [re.compile(re.escape(v), re.IGNORECASE) for v in ordered]
    found += [
        re.compile(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", re.IGNORECASE)
        for w in sorted(words)
    ]
    return tuple(found)


def patient_pseudonym(keys: Keys, patient_id: str) -> str:
    """Patient ID's pseudonym: the project's lookup table, else a keyed one (16 hex digits)."""
    found = keys.pseudonym("ptid", patient_id)
    if found is not None:
        return found
    return keys.digest("ptid", patient_id.strip()).hex()[:16].upper()


def name_pseudonym(keys: Keys, name: str, new_patient_id: str) -> str:
    """Patient's Name's pseudonym: the lookup table's, else the Patient ID's pseudonym."""
    found = keys.pseudonym("ptname", name)
    return found if found is not None else new_patient_id
