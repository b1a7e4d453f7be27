"""A dataset's descriptive metadata: the schema every site has (docs/datasets.md), and
the site's own fields added to it (``SCANDEPOT_DATASET_METADATA_FIELDS``, a JSON file).

The schema is JSON Schema (Draft 2020-12), checked by clinical's validator (formats
checked, patterns by RE2, nothing ever fetched). A draft may be incomplete: each field it
has must be right, and only ``title`` is needed; a release needs every field of
:data:`RELEASE_REQUIRED` and the site's ``required`` ones. Every problem names its field
as a JSON pointer under ``metadata`` (``metadata/authors/0/name``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from scandepot.clinical import validator
from scandepot.errors import Invalid
from scandepot.settings import Settings

_TERMS = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 200},
    "uniqueItems": True,
    "maxItems": 200,
}
_PERSON = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "affiliation": {"type": "string", "maxLength": 500},
    "email": {"type": "string", "format": "email", "maxLength": 320},
    "orcid": {"type": "string", "pattern": r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$"},
}

BASE_PROPERTIES: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": 300},
    "description": {"type": "string", "minLength": 1, "maxLength": 20000},
    "authors": {
        "type": "array",
        "minItems": 1,
        "maxItems": 500,
        "items": {
            "type": "object",
            "properties": _PERSON,
            "required": ["name"],
            "additionalProperties": False,
        },
    },
    "contact": {
        "type": "object",
        "properties": _PERSON,
        "required": ["name", "email"],
        "additionalProperties": False,
    },
    # An SPDX licence identifier (CC-BY-4.0) or the URL of the licence's text.
    "licence": {"type": "string", "minLength": 1, "maxLength": 300},
    "keywords": _TERMS,
    "body_parts": _TERMS,
    "conditions": _TERMS,
    "provenance": {"type": "string", "maxLength": 20000},
    "funding": {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 500},
        "maxItems": 100,
    },
}
DRAFT_REQUIRED = ("title",)
RELEASE_REQUIRED = ("title", "description", "authors", "contact", "licence")

# What a site's own field may say: clinical's keywords for a variable, and lists of them.
FIELD_KEYWORDS = validator.VARIABLE_KEYWORDS | {"items", "minItems", "maxItems", "uniqueItems"}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class SiteFieldsError(ValueError):
    """The site's metadata fields file cannot be taken (the operator's to mend)."""


def site_fields(settings: Settings) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The site's own fields (name: schema) and those a release needs."""
    path = settings.dataset_metadata_fields
    if path is None:
        return {}, ()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise SiteFieldsError(f"SCANDEPOT_DATASET_METADATA_FIELDS: {path}: {exc}") from exc
    return _read_fields(path, stamp)


@cache
def _read_fields(path: Path, _stamp: int) -> tuple[dict[str, Any], tuple[str, ...]]:
    where = f"SCANDEPOT_DATASET_METADATA_FIELDS: {path}"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SiteFieldsError(f"{where}: not JSON ({exc})") from exc
    props = found.get("properties", {}) if isinstance(found, dict) else None
    required = found.get("required", []) if isinstance(found, dict) else None
    if not isinstance(props, dict) or not isinstance(required, list):
        raise SiteFieldsError(f"{where}: an object with 'properties' and 'required' is needed")
    for name, schema in props.items():
        problem = _field_problem(name, schema)
        if problem:
            raise SiteFieldsError(f"{where}: field '{name}': {problem}")
    unknown = [r for r in required if r not in props]
    if unknown:
        raise SiteFieldsError(f"{where}: 'required' names fields it does not define: {unknown}")
    return dict(props), tuple(required)


def _field_problem(name: str, schema: Any) -> str | None:
    if not _NAME.fullmatch(name):
        return "a name is lower-case letters, digits and '_', starting with a letter"
    if name in BASE_PROPERTIES:
        return "the schema every site has defines it already"
    if not isinstance(schema, dict):
        return "its schema is an object"
    items = schema.get("items")
    parts: list[dict[str, Any]] = [schema, items if isinstance(items, dict) else {}]
    for part in parts:
        unknown = validator.unknown_keywords(part, FIELD_KEYWORDS)
        if unknown:
            return f"keywords not taken: {', '.join(unknown)}"
        if "pattern" in part and (why := validator.pattern_problem(part["pattern"])):
            return why
    return None


def schema(settings: Settings, *, release: bool = False) -> dict[str, Any]:
    """The whole schema: a draft's (``release=False``) or a release's."""
    extra, extra_required = site_fields(settings)
    required = [*RELEASE_REQUIRED, *extra_required] if release else list(DRAFT_REQUIRED)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {**BASE_PROPERTIES, **extra},
        "required": required,
        "additionalProperties": False,
    }


def check(settings: Settings, meta: Any, *, release: bool = False) -> dict[str, Any]:
    """``meta`` if it keeps the schema; else Invalid naming the first field that breaks it
    (every problem is in the error's details)."""
    if not isinstance(meta, Mapping):
        raise Invalid("metadata is a JSON object of field: value.", field="metadata")
    problems = _problems(schema(settings, release=release), dict(meta))
    if problems:
        field, message = problems[0]
        raise Invalid(
            f"{field}: {message}",
            field=field,
            details=[{"name": f, "reason": m} for f, m in problems[:50]],
        )
    return dict(meta)


def _problems(whole: Mapping[str, Any], meta: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    check = validator.validator(whole)
    for error in sorted(check.iter_errors(meta), key=lambda e: [str(p) for p in e.path]):
        pointer = "metadata" + "".join(f"/{p}" for p in error.absolute_path)
        if error.validator == "required":
            missing = re.match(r"^'(.*)' is a required property$", error.message)
            if missing:
                found.append((f"{pointer}/{missing.group(1)}", "required, and missing"))
                continue
        if error.validator == "additionalProperties":
            declared = error.schema if isinstance(error.schema, Mapping) else {}
            known = set(declared.get("properties", {}))
            given: Any = error.instance
            for name in sorted(set(given) - known):
                found.append((f"{pointer}/{name}", "not a field of the schema"))
            continue
        found.append((pointer, error.message))
    return found
