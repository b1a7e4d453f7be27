"""The fields of sessions and scans as XNAT clients set them, and what scandepot calls them.

xnatpy and pyxnat create and change objects with query parameters: a field's name alone
(``date``), or its XPath under a data type (``xnat:mrSessionData/date``,
``xnat:experimentData/note``, ``xnat:imageScanData/quality``). Both forms are read here into
the fields of :mod:`scandepot.archive.sessions` and :mod:`scandepot.archive.scans`; a name
neither knows is a 400 naming it, and ``NULL`` clears a field, as in XNAT. The names are
those of the XSD served at ``/xapi/schemas``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from scandepot.api.xnat import datatypes, session_types
from scandepot.api.xnat.control import CONTROL
from scandepot.errors import Invalid

M = TypeVar("M", bound=BaseModel)

NULL = "NULL"


def _dicom_date(value: str) -> str:
    """XNAT writes dates as ``YYYY-MM-DD``; DICOM's DA is ``YYYYMMDD``."""
    return value.replace("-", "") if len(value) == 10 else value


@dataclass(frozen=True, slots=True)
class Field:
    key: str  # the service's name of the field
    convert: Callable[[str], str] | None = None


# XNAT's name of a session field (lower case) -> scandepot's.
SESSION_FIELDS: dict[str, Field] = {
    "label": Field("label"),
    "date": Field("date"),
    "time": Field("time"),
    "note": Field("note"),
    "modality": Field("modality"),
    "uid": Field("StudyInstanceUID"),
    "session_type": Field("StudyDescription"),
    "dcmaccessionnumber": Field("AccessionNumber"),
    "dcmpatientid": Field("PatientID"),
    "dcmpatientname": Field("PatientName"),
    "dcmpatientbirthdate": Field("PatientBirthDate", _dicom_date),
    "scanner": Field("StationName"),
    "scanner/manufacturer": Field("Manufacturer"),
    "scanner/model": Field("ManufacturerModelName"),
    "acquisition_site": Field("InstitutionName"),
    "fieldstrength": Field("MagneticFieldStrength"),
    "subject_id": Field("subject"),
}
# Fields that name where the session is: checked against it, never changed this way.
SESSION_PLACE = frozenset({"id", "project"})

SCAN_FIELDS: dict[str, Field] = {
    "id": Field("id"),
    "type": Field("type"),
    "series_description": Field("SeriesDescription"),
    "quality": Field("quality"),
    "note": Field("note"),
    "frames": Field("frames"),
    "uid": Field("SeriesInstanceUID"),
    "modality": Field("Modality"),
    "bodypartexamined": Field("BodyPartExamined"),
}
SCAN_PLACE = frozenset({"image_session_id", "project"})

_SESSION_ROOTS = (
    *(t.lower() for t in datatypes.SESSION_TYPES),
    *(t.lower() for t in session_types.ANY_SESSION),
)
_SCAN_ROOTS = (
    *(t.lower() for t in datatypes.SCAN_TYPES),
    session_types.ANY_SCAN.lower(),
)


@dataclass(slots=True)
class Parsed:
    values: dict[str, str | None]  # service name -> value (None: cleared)
    names: dict[str, str]  # service name -> the name the client gave
    place: dict[str, str]  # "id", "project", "image_session_id" as given


def _field_name(param: str, roots: Iterable[str]) -> str:
    """``xnat:mrSessionData/date`` -> ``date``; a bare name as it is; lower case."""
    name = param.strip().lower()
    if "/" not in name or not name.startswith("xnat:"):
        return name
    root, _, rest = name.partition("/")
    if root not in roots:
        raise Invalid(f"Unknown field '{param}': '{root}' is not this object's type.", field=param)
    return rest


def _parse(
    params: Iterable[tuple[str, str]],
    fields: Mapping[str, Field],
    place_names: frozenset[str],
    roots: Iterable[str],
) -> Parsed:
    roots = tuple(roots)
    parsed = Parsed({}, {}, {})
    for param, raw in params:
        if param.lower() in CONTROL:
            continue
        name = _field_name(param, roots)
        if name in place_names:
            parsed.place[name] = raw
            continue
        field = fields.get(name)
        if field is None:
            raise Invalid(f"Unknown field '{param}'.", field=param)
        value: str | None = None if raw == NULL else raw
        if value is not None and field.convert is not None:
            value = field.convert(value)
        parsed.values[field.key] = value
        parsed.names[field.key] = param
    return parsed


def session_fields(params: Iterable[tuple[str, str]]) -> Parsed:
    return _parse(params, SESSION_FIELDS, SESSION_PLACE, _SESSION_ROOTS)


def scan_fields(params: Iterable[tuple[str, str]]) -> Parsed:
    return _parse(params, SCAN_FIELDS, SCAN_PLACE, _SCAN_ROOTS)


def validated(model: type[M], values: Mapping[str, object], names: Mapping[str, str]) -> M:
    """``model`` made of ``values``; a value it refuses is a 400 naming the field as the
    client named it."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else ""
        shown = names.get(key, key)
        raise Invalid(f"Invalid value for '{shown}': {error['msg']}.", field=shown) from None
