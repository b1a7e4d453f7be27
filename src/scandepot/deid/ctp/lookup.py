"""CTP lookup tables (CTP LookupTable): a Java properties file of ``TYPE/value =
replacement`` lines, read by @lookup(Element, TYPE) and @incrementdate(Date, Element,
TYPE). Parsed to the project's pseudonym table rows, {(TYPE, value): replacement}.

The properties syntax is java.util.Properties.load's: ``#`` or ``!`` starts a comment
line; the key ends at the first unescaped ``=``, ``:`` or blank; ``\\`` escapes (``\\t``,
``\\n``, ``\\uXXXX``, any other character as itself) and, at the end of a line, continues
it on the next. A key that is not TYPE/value, or a key given twice, refuses the table
naming the lines.
"""

from __future__ import annotations

import re

from scandepot.deid.model import ScriptError

SOURCE = "lookup table"
ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line, continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip(" \t\f") if pending else raw
        if not pending:
            start = number
            stripped = line.lstrip(" \t\f")
            if not stripped or stripped[0] in "#!":
                continue
            line = stripped
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending.append(line[:-1])
            continue
        pending.append(line)
        lines.append((start, "".join(pending)))
        pending = []
    if pending:
        lines.append((start, "".join(pending)))
    return lines


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        c = match.group(1)
        if c.startswith("u"):
            return chr(int(c[1:], 16))
        return ESCAPES.get(c, c)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, text)


def _split(line: str) -> tuple[str, str]:
    """Key and value of one logical line, as Properties.load splits them."""
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in "=: \t\f":
            break
        i += 1
    key, rest = line[:i], line[i:]
    rest = rest.lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return _unescape(key), _unescape(rest)


def entries(text: str) -> list[tuple[int, str, str, str]]:
    """Each entry as (line, TYPE, value, replacement), in the file's order;
    :class:`ScriptError` naming the line of a key that is not TYPE/value and both lines
    of a key given twice."""
    found: list[tuple[int, str, str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for line_number, line in _logical_lines(text):
        key, value = _split(line)
        kind, slash, original = key.partition("/")
        if not slash or not kind.strip():
            raise ScriptError(
                f"'{key}' is not TYPE/value (such as ptid/12345)", line=line_number, source=SOURCE
            )
        entry = (kind.strip(), original.strip())
        if entry in seen:
            raise ScriptError(
                f"'{key}' is given twice, on lines {seen[entry]} and {line_number}",
                line=line_number,
                source=SOURCE,
            )
        seen[entry] = line_number
        found.append((line_number, entry[0], entry[1], value.strip()))
    return found


def parse(text: str) -> dict[tuple[str, str], str]:
    """{(TYPE, value): replacement}; refused as :func:`entries` refuses."""
    return {(kind, original): value for _, kind, original, value in entries(text)}
