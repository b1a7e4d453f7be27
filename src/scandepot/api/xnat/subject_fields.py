"""A subject's fields under XNAT's names, for what clients write and what they read.

Writes come as query fields of a ``PUT`` (xnatpy, pyxnat and curl recipes send them so):
``label``, ``group``, the demographics as ``gender``, ``age``, ``yob`` or
``xnat:subjectData/demographics[@xsi:type=xnat:demographicData]/gender``, custom fields
as ``xnat:subjectData/fields/field[name=x]/field``. ``NULL`` clears a value (xnatpy's
``del``). Reads come as ``columns=`` of a listing, by the same names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from scandepot.api.xnat import datatypes
from scandepot.api.xnat.columns import Getter, insert_date, strip_type
from scandepot.api.xnat.control import CONTROL
from scandepot.archive.subjects import SubjectFields, SubjectRow
from scandepot.errors import Invalid

_DEMOGRAPHIC = re.compile(
    r"demographics(?:\[@xsi:type=xnat:demographicData\])?/(gender|age|yob)", re.IGNORECASE
)
# xnatpy removes a field by both ``.../field[name=x]/field`` and ``.../field[name=x]/x``.
_CUSTOM = re.compile(r"fields/field\[name=([^\]]+)\]/(?:field|\1)", re.IGNORECASE)
_SEX = {"m": "male", "male": "male", "f": "female", "female": "female"}
_SEX.update({"other": "other", "o": "other", "unknown": "unknown", "u": "unknown"})
STORED = "label, group, gender, age, yob and custom fields (fields/field[name=...]/field)"


@dataclass(slots=True)
class SubjectChange:
    data: SubjectFields
    fields: dict[str, str | None] = field(default_factory=dict)


def _demographic(name: str) -> str | None:
    """``gender``, ``age`` or ``yob`` for a demographics path or shortcut."""
    bare = strip_type(name, datatypes.SUBJECT)
    if bare == name and bare.lower() in ("gender", "age", "yob"):
        return bare.lower()
    found = _DEMOGRAPHIC.fullmatch(bare)
    return found.group(1).lower() if found else None


def _custom(name: str) -> str | None:
    found = _CUSTOM.fullmatch(strip_type(name, datatypes.SUBJECT))
    return found.group(1) if found else None


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"{name} must be a whole number (got '{value[:40]}').", field=name) from None


def check_xsi_type(value: str | None) -> None:
    if value is not None and value.lower() != datatypes.SUBJECT.lower():
        raise Invalid(
            f"Unknown xsiType '{value[:80]}' for a subject: use {datatypes.SUBJECT}.",
            field="xsiType",
        )


def parse_put(query: Mapping[str, str], *, subject_id: str | None, project: str) -> SubjectChange:
    """What a ``PUT`` on a subject changes; 400 naming any field that is not a subject's."""
    check_xsi_type(query.get("xsiType"))
    values: dict[str, Any] = {}
    fields: dict[str, str | None] = {}
    for name, raw in query.items():
        value = None if raw == "NULL" else raw
        bare = strip_type(name, datatypes.SUBJECT)
        key = bare.lower()
        if name.lower() in CONTROL:
            continue
        if key in ("label", "group"):
            values[key] = value
        elif (demographic := _demographic(name)) is not None:
            values.update(_demographic_value(demographic, value))
        elif (custom := _custom(name)) is not None:
            fields[custom] = value
        elif key == "id":
            if value not in (None, subject_id):  # the ID is the site's
                raise Invalid("ID cannot be modified.", field="ID")
        elif key == "project":
            if value != project:
                raise Invalid("Project must be modified through separate URI.", field="project")
        else:
            raise Invalid(
                f"Unknown field '{name[:120]}' for {datatypes.SUBJECT}: a subject here has "
                f"{STORED}.",
                field=name[:120],
            )
    if "label" in values and values["label"] is None:
        raise Invalid("A subject's label cannot be removed.", field="label")
    try:
        data = SubjectFields(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = str(first["loc"][0]) if first["loc"] else "subject"
        raise Invalid(f"{where}: {first['msg']}.", field=where) from None
    return SubjectChange(data, fields)


def _demographic_value(name: str, value: str | None) -> dict[str, Any]:
    if name == "gender":
        if value is None:
            return {"sex": None}
        sex = _SEX.get(value.strip().lower())
        if sex is None:
            raise Invalid(
                f"gender must be male, female, other or unknown (got '{value[:40]}').",
                field="gender",
            )
        return {"sex": sex}
    target = "age" if name == "age" else "birth_year"
    return {target: None if value is None else _integer(name, value)}


DEFAULT_COLUMNS = ("ID", "project", "label", "insert_date", "insert_user", "URI")

_COLUMNS: dict[str, Getter[SubjectRow]] = {
    "id": lambda r: r.stable_id,
    "label": lambda r: r.label,
    "project": lambda r: r.project,
    "group": lambda r: r.group,
    "insert_date": lambda r: insert_date(r.created_at),
    "insert_user": lambda r: "",
    "uri": lambda r: f"/data/subjects/{r.stable_id}",
    "xsitype": lambda r: datatypes.SUBJECT,
    "gender": lambda r: r.sex,
    "age": lambda r: r.age,
    "yob": lambda r: r.birth_year,
}


def column(name: str) -> Getter[SubjectRow] | None:
    """The getter of a listing column named ``name``; None when a subject has no such."""
    key = strip_type(name, datatypes.SUBJECT).lower()
    if key in _COLUMNS:
        return _COLUMNS[key]
    if (demographic := _demographic(name)) is not None:
        return _COLUMNS[demographic]
    if (custom := _custom(name)) is not None:
        return lambda r: (r.fields or {}).get(custom)
    return None


def shows_fields(wanted: str | None) -> bool:
    """Whether the listing columns ``wanted`` name a custom field."""
    return any(_custom(name.strip()) is not None for name in (wanted or "").split(","))
