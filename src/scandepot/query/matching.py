"""DICOM matching (PS3.4 C.2.2.2) as SQL conditions on catalog columns.

- universal: an empty value (or a lone ``*``) matches everything, NULL included;
- single value: equality, case-sensitive except for Person Names, which match whatever
  their case (as C.2.2.2.1 permits for PN, and as viewers' users expect: a name typed in
  lower case finds it; for non-ASCII letters only where the database lowers them);
- wildcards: ``*`` any run of characters, ``?`` one character (not for UIDs, dates,
  times or numbers); SQL's own wildcard characters in the value are matched literally;
- UID lists: ``uid\\uid`` (QIDO-RS's commas are turned into backslashes first);
- ranges of dates and times: ``A-B``, ``A-``, ``-B``; a partial time (``HH``, ``HHMM``)
  stands for the whole hour or minute; Study Date and Study Time given together are
  matched as one date-time range (C.2.2.2.5.1);
- fuzzy matching of person names (``fuzzymatching=true``): case-insensitive, and each
  ``^``-separated component given matches the start of the name's component
  (``doe^j`` finds ``Doe^Jane`` and ``Doeson^John``).

A value that breaks its VR's syntax is a :class:`~scandepot.errors.BadRequest` naming
the attribute.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from sqlalchemy import ColumnElement, Date, Time, and_, func, or_, true

from scandepot.errors import BadRequest
from scandepot.query.attributes import Attribute

_UID = re.compile(r"^[0-9.]{1,64}$")
_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?$")
_STRING_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"}
_NUMBER_VRS = {"IS", "US", "UL", "SS", "SL"}


def is_universal(value: str) -> bool:
    return value.strip(" ") in ("", "*")


def uids(value: str, keyword: str) -> list[str]:
    """The UIDs of a UID list; each only digits and dots, at most 64 characters."""
    found = [part.strip(" \x00") for part in value.split("\\")]
    for uid in found:
        if not _UID.match(uid) or ".." in uid or uid.startswith(".") or uid.endswith("."):
            raise BadRequest(
                f"{keyword}: {uid!r} is not a UID (digits and dots, at most 64).", field=keyword
            )
    return found


def condition(
    attribute: Attribute, column: Any, value: str, *, fuzzy: bool, dialect: str
) -> ColumnElement[bool]:
    """The SQL condition on ``column`` for matching ``attribute`` against ``value``."""
    keyword, vr = attribute.keyword, attribute.vr
    if is_universal(value):
        return true()
    if vr == "UI":
        return _bool(column.in_(uids(value, keyword)))
    if vr == "DA":
        return _dates(column, value, keyword)
    if vr == "TM":
        low, high = time_range(value, keyword)
        return _between(column, low, high)
    if vr in _NUMBER_VRS:
        return _bool(column == _number(value, keyword))
    if vr in _STRING_VRS:
        if vr == "PN" and not fuzzy:
            return text(func.lower(column), value.strip(" ").lower(), fuzzy=False, dialect=dialect)
        return text(column, value.strip(" "), fuzzy=fuzzy and vr == "PN", dialect=dialect)
    raise BadRequest(f"{keyword} cannot be matched on.", field=keyword)


def text(column: Any, value: str, *, fuzzy: bool, dialect: str) -> ColumnElement[bool]:
    """Single value, wildcard or fuzzy (person name) matching of a text column."""
    if fuzzy:
        parts = [_like(part) + "%" for part in value.split("^")]
        return _bool(func.lower(column).like("^".join(parts).lower(), escape="\\"))
    if "*" not in value and "?" not in value:
        return _bool(column == value)
    if dialect == "sqlite":  # LIKE ignores case there; GLOB does not
        return _bool(column.op("GLOB")(_glob(value)))
    return _bool(column.like(_like(value), escape="\\"))


def _bool(clause: Any) -> ColumnElement[bool]:
    return cast(ColumnElement[bool], clause)


def _like(value: str) -> str:
    out = []
    for char in value:
        if char in "%_\\":
            out.append("\\" + char)
        elif char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        else:
            out.append(char)
    return "".join(out)


def _glob(value: str) -> str:
    return "".join("[[]" if c == "[" else ("[]]" if c == "]" else c) for c in value)


def _number(value: str, keyword: str) -> int:
    try:
        return int(value.strip(" "))
    except ValueError:
        raise BadRequest(f"{keyword}: {value!r} is not a number.", field=keyword) from None


def _split(value: str, keyword: str) -> tuple[str, str | None]:
    """(low, high) of a range, or (value, None) for a single value."""
    if value.count("-") > 1:
        raise BadRequest(f"{keyword}: {value!r} is no value or range.", field=keyword)
    if "-" not in value:
        return value.strip(" "), None
    low, high = value.split("-")
    return low.strip(" "), high.strip(" ")


def date_range(value: str, keyword: str) -> tuple[dt.date | None, dt.date | None]:
    low, high = _split(value, keyword)
    if high is None:
        day = _date(low, keyword)
        return day, day
    if not low and not high:
        raise BadRequest(f"{keyword}: {value!r} is a range of nothing.", field=keyword)
    return (_date(low, keyword) if low else None), (_date(high, keyword) if high else None)


def _date(text: str, keyword: str) -> dt.date:
    if _DATE.match(text):
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            pass
    raise BadRequest(f"{keyword}: {text!r} is not a date (YYYYMMDD).", field=keyword)


def _dates(column: Any, value: str, keyword: str) -> ColumnElement[bool]:
    low, high = date_range(value, keyword)
    if isinstance(column.type, Date):
        return _between(column, low, high)
    # Kept as text (a patient's birth date): YYYYMMDD sorts as the dates do.
    return _between(
        column,
        low.strftime("%Y%m%d") if low else None,
        high.strftime("%Y%m%d") if high else None,
    )


def time_range(value: str, keyword: str) -> tuple[dt.time | None, dt.time | None]:
    low, high = _split(value, keyword)
    if high is None:
        return _time(low, keyword, end=False), _time(low, keyword, end=True)
    if not low and not high:
        raise BadRequest(f"{keyword}: {value!r} is a range of nothing.", field=keyword)
    return (
        _time(low, keyword, end=False) if low else None,
        _time(high, keyword, end=True) if high else None,
    )


def _time(text: str, keyword: str, *, end: bool) -> dt.time:
    """A TM value to the second; a partial one (HH, HHMM) at the start or the end of
    the hour or minute it names (the catalog keeps times to the second)."""
    found = _TIME.match(text.replace(":", ""))
    if found:
        hours, minutes, seconds = found.group(1), found.group(2), found.group(3)
        fill = 59 if end else 0
        try:
            return dt.time(
                int(hours),
                int(minutes) if minutes else fill,
                min(int(seconds), 59) if seconds else fill,
            )
        except ValueError:
            pass
    raise BadRequest(f"{keyword}: {text!r} is not a time (HHMMSS).", field=keyword)


def _between(column: Any, low: Any, high: Any) -> ColumnElement[bool]:
    parts = []
    if low is not None:
        parts.append(column >= low)
    if high is not None:
        parts.append(column <= high)
    return and_(*parts) if parts else true()


def date_time(
    date_column: Any, time_column: Any, date_value: str, time_value: str
) -> ColumnElement[bool]:
    """Combined date-time range matching (PS3.4 C.2.2.2.5.1) of a date and a time
    attribute given together: ``20240101-20240131`` with ``080000-170000`` is from
    1 January 08:00 to 31 January 17:00. A date with no time matches the day entire."""
    days = date_range(date_value, "StudyDate")
    times = time_range(time_value, "StudyTime")
    if not isinstance(date_column.type, Date) or not isinstance(time_column.type, Time):
        raise BadRequest("Only Study Date and Study Time match together.", field="StudyTime")
    parts = []
    for day, at, after in ((days[0], times[0], True), (days[1], times[1], False)):
        if day is None:
            continue
        beyond = date_column > day if after else date_column < day
        on_day = date_column == day
        if at is not None:
            on_day = (
                and_(on_day, or_(time_column.is_(None), time_column >= at))
                if after
                else and_(on_day, or_(time_column.is_(None), time_column <= at))
            )
        parts.append(or_(beyond, on_day))
    if days == (None, None):
        return _between(time_column, *times)
    return and_(*parts) if parts else true()
