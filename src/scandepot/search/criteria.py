"""A search as the interfaces hand it over: what to list, which columns, which criteria.

The tree mirrors XNAT's ``xdat:search`` document (``search_where`` and its ``child_set``
elements, each with a ``method`` of AND or OR, holding ``criteria``), without its XML:
the interface parses, this package checks names and runs it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from scandepot.errors import BadRequest


class Comparison(enum.Enum):
    """The comparison forms of XNAT's search criteria (``comparison_type``)."""

    EQUAL = "="
    NOT_EQUAL = "!="
    LESS = "<"
    LESS_OR_EQUAL = "<="
    GREATER = ">"
    GREATER_OR_EQUAL = ">="
    LIKE = "LIKE"
    NOT_LIKE = "NOT LIKE"
    IS_NULL = "IS NULL"
    IS_NOT_NULL = "IS NOT NULL"


# Other spellings clients send: xnatpy sends " LIKE " (spaces round it), SQL's "<>",
# and XNAT's "IS" / "IS NOT" with the value NULL.
_SPELLINGS = {"<>": Comparison.NOT_EQUAL, "==": Comparison.EQUAL}


def comparison(text: str | None, value: str) -> Comparison:
    """The comparison ``text`` names (case and spacing aside); 400 naming it otherwise."""
    spelled = re.sub(r"\s+", " ", (text or "").strip()).upper()
    if spelled in ("IS", "IS NOT") and value.strip().upper() == "NULL":
        return Comparison.IS_NULL if spelled == "IS" else Comparison.IS_NOT_NULL
    found = _SPELLINGS.get(spelled)
    if found is None:
        try:
            found = Comparison(spelled)
        except ValueError:
            raise BadRequest(
                f"Unknown comparison '{text}': use =, !=, <, <=, >, >=, LIKE, NOT LIKE, "
                "IS NULL or IS NOT NULL.",
                field="comparison_type",
            ) from None
    return found


class Method(enum.StrEnum):
    AND = "AND"
    OR = "OR"


def method(text: str | None) -> Method:
    """The method of a criteria set: AND when none is given, as XNAT reads it."""
    spelled = (text or "AND").strip().upper()
    try:
        return Method(spelled)
    except ValueError:
        raise BadRequest(f"Unknown method '{text}': use AND or OR.", field="method") from None


@dataclass(frozen=True, slots=True)
class FieldRef:
    """``xnat:mrSessionData/SESSION_ID``: an element and one of its fields (a display
    field ID, or a path of its schema such as ``label`` or ``subject_ID``)."""

    element: str
    field: str

    @classmethod
    def parse(cls, text: str, *, element: str | None = None) -> FieldRef:
        """``element/field``, or a bare field of ``element``; a field given as a whole
        path of another element (xnatpy writes ``xnat:mrSessionData/ID`` as the field of
        ``xnat:mrSessionData``) is read as that path."""
        text = text.strip()
        if ":" in text.split("/", 1)[0] and "/" in text:
            head, rest = text.split("/", 1)
            return cls(head, rest)
        if element is None or not text:
            raise BadRequest(f"'{text}' names no element and field.", field="schema_field")
        return cls(element, text)

    def __str__(self) -> str:
        return f"{self.element}/{self.field}"


@dataclass(frozen=True, slots=True)
class Criterion:
    field: FieldRef
    comparison: Comparison
    value: str


@dataclass(frozen=True, slots=True)
class CriteriaSet:
    method: Method = Method.AND
    items: tuple[Criterion | CriteriaSet, ...] = ()


@dataclass(frozen=True, slots=True)
class Search:
    """Rows of ``root`` (an element name), with ``columns`` (none: the element's default
    columns), matching ``where``."""

    root: str
    columns: tuple[FieldRef, ...] = ()
    where: CriteriaSet = field(default_factory=CriteriaSet)
