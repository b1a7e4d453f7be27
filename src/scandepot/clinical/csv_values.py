"""Reading a clinical CSV: its text (UTF-8 only), its delimiter, its header mapped to the
schema's variables, and each cell turned into the variable's type.

- Encoding: UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8" writes one).
  Anything else (Latin-1, Windows-1252, UTF-16) is refused, naming the line of the first
  byte that is not UTF-8 and saying how to save the file as UTF-8.
- Delimiter: a comma; a semicolon when the header line holds semicolons and no comma (what
  spreadsheets write in locales with a decimal comma).
- Cells: surrounding spaces are dropped; an empty cell is an absent value. Integers are
  digits with an optional sign; numbers take "." as the decimal mark and an optional
  exponent: a decimal comma ("3,5") is refused, since "1,234" could be either; booleans
  are true/false, yes/no, 1/0 (any case); dates are ISO 8601 (YYYY-MM-DD).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scandepot.clinical.schemas import Variable
from scandepot.errors import Invalid

MAX_CSV_BYTES = 16 * 1024 * 1024
MAX_ROWS = 100_000
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


class BadCell(ValueError):
    """A cell that is not a value of its variable's type; the message says why."""


def decode(data: bytes) -> str:
    """The file's text; :class:`Invalid` when it is too large or not UTF-8."""
    if len(data) > MAX_CSV_BYTES:
        raise Invalid(
            f"The file is over {MAX_CSV_BYTES // (1024 * 1024)} MiB; split it into several "
            "imports.",
            field="file",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise Invalid(
            f"The file is not UTF-8 text: byte 0x{data[exc.start]:02X} on line {line} "
            "(Latin-1 or Windows-1252 is likely). Save it as UTF-8 (in Excel: 'CSV UTF-8 "
            "(Comma delimited)'; in LibreOffice: character set 'Unicode (UTF-8)') and "
            "import it again; nothing was imported.",
            field="file",
        ) from None


def delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return ";" if ";" in header and "," not in header else ","


# Longer than any measurement: Python refuses to read integers of over 4300 digits.
MAX_DIGITS = 40


def coerce(var: Variable, cell: str) -> Any:
    """``cell`` (stripped, not empty) as a value of ``var``'s type; :class:`BadCell`."""
    if var.type == "integer":
        if not _INTEGER.fullmatch(cell):
            raise BadCell(f"'{cell[:40]}' is not an integer")
        if len(cell) > MAX_DIGITS:
            raise BadCell(f"'{cell[:40]}…' has more than {MAX_DIGITS} digits")
        return int(cell)
    if var.type == "number":
        if _DECIMAL_COMMA.fullmatch(cell):
            raise BadCell(f"'{cell[:40]}' has a decimal comma: write numbers with '.' (3.5)")
        if not _NUMBER.fullmatch(cell):
            raise BadCell(f"'{cell[:40]}' is not a number")
        if len(cell) > MAX_DIGITS:
            raise BadCell(f"'{cell[:40]}…' has more than {MAX_DIGITS} digits")
        value = int(cell) if _INTEGER.fullmatch(cell) else float(cell)
        if isinstance(value, float) and not math.isfinite(value):
            raise BadCell(f"'{cell[:40]}' is out of a number's range")
        return value
    if var.type == "boolean":
        word = cell.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise BadCell(f"'{cell[:40]}' is not a boolean (true/false, yes/no, 1/0)")
    if var.is_date and not _ISO_DATE.fullmatch(cell):
        raise BadCell(f"'{cell[:40]}' is not an ISO 8601 date (YYYY-MM-DD)")
    return cell


@dataclass(frozen=True, slots=True)
class Columns:
    """The header read: which column holds the subject, which the variables."""

    subject: int
    variables: dict[int, Variable]  # column index -> variable
    names: list[str]  # the header's names
    ignored: list[str]  # columns left out (unknown, and ignoring them was asked)

    def column_of(self, variable: str) -> str:
        for index, var in self.variables.items():
            if var.name == variable:
                return self.names[index]
        return variable


def _variable_of(
    name: str, mapping: Mapping[str, str], by_name: Mapping[str, Variable]
) -> Variable | None:
    target = mapping.get(name, name)
    return by_name.get(target)


def columns(
    header: list[str],
    variables: list[Variable],
    *,
    subject_column: str,
    mapping: Mapping[str, str],
    ignore_unknown: bool,
) -> Columns:
    """The header mapped to variables (``mapping``: column -> variable; a column not
    named there maps to the variable of its name); :class:`Invalid` naming every column
    that maps to nothing (unless ``ignore_unknown``), is repeated, or names a variable
    twice."""
    names = [h.strip() for h in header]
    by_name = {v.name: v for v in variables}
    problems = []
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"columns named more than once: {', '.join(repeated)}")
    if subject_column not in names:
        problems.append(f"no '{subject_column}' column (the subject labels)")
    absent = [c for c in mapping if c not in names]
    if absent:
        problems.append(f"the mapping names columns the file does not have: {', '.join(absent)}")
    wrong = [f"{c} -> {v}" for c, v in mapping.items() if v not in by_name]
    if wrong:
        problems.append(f"the mapping names variables the schema does not have: {', '.join(wrong)}")
    found: dict[int, Variable] = {}
    unknown: list[str] = []
    for index, name in enumerate(names):
        if name == subject_column and name not in mapping:
            continue
        var = _variable_of(name, mapping, by_name)
        if var is None:
            unknown.append(name or f"(column {index + 1}, no name)")
        else:
            found[index] = var
    if unknown and not ignore_unknown:
        problems.append(
            f"columns that are no variable of the schema: {', '.join(unknown)} (map them to "
            "variables, or ask to ignore unknown columns)"
        )
    twice = sorted({v.name for v in found.values() if list(found.values()).count(v) > 1})
    if twice:
        problems.append(f"variables given by more than one column: {', '.join(twice)}")
    if not found and not problems:
        problems.append("no column holds a variable of the schema")
    if problems:
        raise Invalid(
            f"The header does not fit the schema: {'; '.join(problems)}; nothing was imported.",
            field="header",
            details=[{"name": "header", "reason": p} for p in problems],
        )
    return Columns(names.index(subject_column), found, names, unknown)
