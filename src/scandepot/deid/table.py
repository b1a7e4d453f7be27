"""PS3.15 Table E.1-1 resolved for one choice of options: tag -> one action.

The generated :mod:`scandepot.deid.annex_e` holds the standard's cells (a basic action
such as "X/Z/D" and each option's action); here each row becomes one action:

- an option chosen whose column says K wins, then C, then any other (PS3.15 E.3: the
  option's action replaces the basic profile's; where two options differ, the one that
  retains more);
- a compound basic action takes its least destructive member that still conforms to
  every IOD (X/Z -> Z, X/D, Z/D and X/Z/D -> D): which IOD the instance follows and
  whether the attribute is Type 1, 2 or 3 there is not looked up (PS3.15 E.1.1);
- X/Z/U* (sequences of references) -> R: the sequence stays, the table is applied to its
  items, so the instance UIDs in them are replaced (U) and the rest as listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from scandepot.deid.annex_e import OPTION_LETTERS, PRIVATE, ROWS

OPTIONS: frozenset[str] = frozenset(OPTION_LETTERS.values())
_BASIC = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "R"}
# Private attributes kept under Retain Safe Private: none. PS3.15 Table E.3.10-1 lists
# vendors' safe private attributes, but no machine-readable copy of it could be found
# among the sources this table is made from (docs/deid-profile.md), so nothing is "safe".
SAFE_PRIVATE: frozenset[tuple[str, int]] = frozenset()


@dataclass(frozen=True, slots=True)
class Row:
    basic: str  # as published: "X", "X/Z/D", "U", ...
    options: tuple[tuple[str, str], ...]  # (option name, action)
    newer: bool  # only in the 2026c table (its options not published)


def _parse(cell: str) -> tuple[str, Row]:
    key, basic, *rest = cell.split()
    newer = rest[-1:] == ["+"]
    options = tuple((OPTION_LETTERS[item[0]], item[1:]) for item in rest if item != "+")
    return key, Row(basic, options, newer)


ROWS_BY_KEY: dict[str, Row] = dict(_parse(cell) for cell in "".join(ROWS).split(";"))
PRIVATE_ROW: Row = _parse("private " + PRIVATE)[1]


def resolve(row: Row, options: frozenset[str]) -> tuple[str, str | None]:
    """One action for ``row`` under ``options``, and the option that chose it (or None)."""
    chosen = [(action, name) for name, action in row.options if name in options]
    for wanted in ("K", "C"):
        for action, name in chosen:
            if action == wanted:
                return action, name
    if chosen:
        return chosen[0]
    return _BASIC.get(row.basic, row.basic), None


@dataclass(frozen=True, slots=True)
class Actions:
    """The table under one choice of options: ``by_tag[tag] = (action, option or None)``."""

    by_tag: dict[int, tuple[str, str | None]]
    curves: tuple[str, str | None]  # (50xx,xxxx)
    overlays: dict[int, tuple[str, str | None]]  # element -> action, in groups 60xx
    private: tuple[str, str | None]

    def of(self, tag: int) -> tuple[str, str | None] | None:
        """The action for ``tag``, None when the table does not list it (kept)."""
        found = self.by_tag.get(tag)
        if found is not None:
            return found
        group = tag >> 16
        if group & 1:
            return self.private
        if 0x5000 <= group <= 0x501E:
            return self.curves
        if 0x6000 <= group <= 0x601E:
            return self.overlays.get(tag & 0xFFFF)
        return None


@cache
def actions(options: frozenset[str]) -> Actions:
    by_tag: dict[int, tuple[str, str | None]] = {}
    overlays: dict[int, tuple[str, str | None]] = {}
    curves: tuple[str, str | None] = ("X", None)
    for key, row in ROWS_BY_KEY.items():
        action = resolve(row, options)
        if key.startswith("50xx"):
            curves = action
        elif key.startswith("60xx"):
            overlays[int(key[4:], 16)] = action
        else:
            by_tag[int(key, 16)] = action
    return Actions(by_tag, curves, overlays, resolve(PRIVATE_ROW, options))


def option_rows(option: str) -> dict[int, str]:
    """Tag -> action of one option's column, repeating groups aside."""
    return {
        int(key, 16): action
        for key, row in ROWS_BY_KEY.items()
        if "x" not in key
        for name, action in row.options
        if name == option
    }
