"""The JSON Schema validator clinical records are checked with, and what a schema may say.

A project's schema is Draft 2020-12, kept to what one CSV column per variable can hold
and what de-identification can read: at the top, the variables (``properties``) and which
are ``required``; in each variable, its type and plain constraints. Nothing that refers
elsewhere (``$ref``, ``$dynamicRef``, ``$defs``) or combines schemas (``allOf``,
``anyOf``, ``oneOf``, ``not``, ``if``/``then``/``else``) is taken: a reference would make
the server fetch a URL or read a file when a record is checked, and a combination could
make a date that de-identification does not see as one. Patterns are matched by RE2, in
time linear in the value, so no pattern an owner writes can stall the server; one RE2
cannot compile (a backreference, a lookaround) is refused when the schema is saved.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from referencing import Registry

ROOT_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "type",
        "properties",
        "required",
        "additionalProperties",
    }
)
VARIABLE_KEYWORDS = frozenset(
    {
        "type",
        "format",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "title",
        "description",
        "default",
        "examples",
        "$comment",
    }
)


def unknown_keywords(found: Mapping[str, Any], allowed: frozenset[str]) -> list[str]:
    """The keywords of ``found`` a clinical schema does not take (``x-`` ones are ours)."""
    return sorted(k for k in found if k not in allowed and not k.startswith("x-"))


def pattern_problem(pattern: Any) -> str | None:
    """Why RE2 cannot take ``pattern``; None when it can."""
    if not isinstance(pattern, str):
        return "'pattern' is a string"
    try:
        re2.compile(pattern)
    except re2.error as exc:
        return f"'pattern' is not a regular expression RE2 takes ({exc})"
    return None


def _pattern(
    validator: Validator, pattern: str, instance: Any, _schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and re2.search(pattern, instance) is None:
        yield ValidationError(f"{instance[:80]!r} does not match {pattern!r}")


_ClinicalValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern}
)


def validator(schema: Mapping[str, Any]) -> Validator:
    """A validator of records against ``schema``: formats checked, patterns by RE2, and
    an empty registry, so that nothing is ever fetched."""
    return _ClinicalValidator(  # type: ignore[no-any-return]
        schema, registry=Registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def not_finite(values: Mapping[str, Any]) -> list[str]:
    """The variables whose value is a number JSON cannot carry (NaN, an infinity)."""
    return [k for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)]
