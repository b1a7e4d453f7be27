"""Values of a search, both ways: the text of a criterion read as its field's kind, and a
catalog value written as the text of a result cell."""

from __future__ import annotations

import datetime as dt
from typing import Any

from scandepot.errors import BadRequest
from scandepot.search.elements import Kind

# Dates as clients send them: ISO, XNAT's (and xnatpy's) MM/DD/YYYY, and DICOM's DA.
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")
_TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%H:%M:%S.%f", "%H%M%S")
_WORDS = {
    Kind.STRING: "text",
    Kind.INTEGER: "whole number",
    Kind.FLOAT: "number",
    Kind.DATE: "date",
    Kind.TIME: "time",
    Kind.DATETIME: "date",
    Kind.WORDS: "word",
}


def operand(text: str, kind: Kind, name: str) -> Any:
    """``text`` as a value of ``kind``; 400 naming the field when it is none."""
    text = text.strip()
    try:
        if kind in (Kind.STRING, Kind.WORDS):
            return text
        if kind == Kind.INTEGER:
            return int(text)
        if kind == Kind.FLOAT:
            return float(text)
        if kind == Kind.TIME:
            return _parse(text, _TIME_FORMATS).time()
        day = _parse(text, _DATE_FORMATS).date()
        if kind == Kind.DATE:
            return day
        return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    except ValueError:
        raise BadRequest(
            f"'{text}' is not a {_WORDS[kind]}, as {name} needs.", field="value"
        ) from None


def _parse(text: str, formats: tuple[str, ...]) -> dt.datetime:
    for pattern in formats:
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(text)


def cell(value: Any, kind: Kind) -> str:
    """A catalog value as XNAT writes it in a result: nothing is the empty string."""
    if value is None:
        return ""
    if kind == Kind.WORDS and isinstance(value, list):
        return " ".join(str(v) for v in value)
    if kind == Kind.DATETIME and isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)
