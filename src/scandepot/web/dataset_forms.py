"""A draft's metadata as a form: one field per property of the schema (the site's own
fields too, docs/datasets.md), read back into the JSON the service checks.

Lists of terms are one per line; a person is ``name; affiliation; email; ORCID`` on one
line (authors: one per line); what the form cannot say in plain fields (a site's object
field) is typed as JSON. An empty field removes the value. The schema itself is checked
by the service, which names the field that breaks it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scandepot.errors import Invalid, ScandepotError
from scandepot.web.deps import Posted

PERSON_KEYS = ("name", "affiliation", "email", "orcid")
LONG = 1000  # a string field allowed longer than this is a text area


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    kind: str  # text, long, terms, person, people, number, integer, boolean, json
    required: bool
    hint: str = ""


def _kind(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type")
    found = spec.get("items")
    items: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    if kind == "string":
        return "long" if int(spec.get("maxLength", 0)) > LONG else "text"
    if kind in ("number", "integer", "boolean"):
        return str(kind)
    if kind == "array" and items.get("type") == "string":
        return "terms"
    if kind == "array" and set(items.get("properties", {})) <= set(PERSON_KEYS):
        return "people"
    if kind == "object" and set(spec.get("properties", {})) <= set(PERSON_KEYS):
        return "person"
    return "json"


HINTS = {
    "terms": "One per line.",
    "person": "name; affiliation; email; ORCID (leave a part empty: name; ; email)",
    "people": "One per line: name; affiliation; email; ORCID",
    "json": "JSON",
}


def fields(schema: Mapping[str, Any]) -> list[FormField]:
    """The form's fields for the release's ``schema`` (its ``required`` marked)."""
    required = set(schema.get("required", ()))
    found = []
    for name, spec in schema.get("properties", {}).items():
        kind = _kind(spec if isinstance(spec, Mapping) else {})
        found.append(FormField(name, kind, name in required, HINTS.get(kind, "")))
    return found


def _person_line(value: Any) -> str:
    if not isinstance(value, Mapping):
        return str(value)
    parts = [str(value.get(k, "")) for k in PERSON_KEYS]
    while parts and not parts[-1]:
        parts.pop()
    return "; ".join(parts)


def shown(meta: Mapping[str, Any], form: list[FormField]) -> dict[str, str]:
    """The text each field of ``form`` shows for ``meta``."""
    out: dict[str, str] = {}
    for f in form:
        value = meta.get(f.name)
        if value is None:
            out[f.name] = ""
        elif f.kind == "terms":
            out[f.name] = "\n".join(str(v) for v in value)
        elif f.kind == "people":
            out[f.name] = "\n".join(_person_line(v) for v in value)
        elif f.kind == "person":
            out[f.name] = _person_line(value)
        elif f.kind == "boolean":
            out[f.name] = "on" if value else ""
        elif f.kind == "json":
            out[f.name] = json.dumps(value, ensure_ascii=False)
        else:
            out[f.name] = str(value)
    return out


def _person(line: str) -> dict[str, str]:
    parts = [p.strip() for p in line.split(";")]
    return {k: v for k, v in zip(PERSON_KEYS, parts, strict=False) if v}


def _number(text: str, kind: str) -> Any:
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        return text  # the schema names the field and says it is no number


def _value(form: Posted, f: FormField) -> Any:
    if f.kind == "boolean":
        return True if form.flag(f.name) else None
    if f.kind in ("terms", "people"):
        lines = form.lines(f.name)
        if not lines:
            return None
        return [_person(line) for line in lines] if f.kind == "people" else lines
    text = form.text(f.name)
    if text is None:
        return None
    if f.kind == "person":
        return _person(text)
    if f.kind in ("number", "integer"):
        return _number(text, f.kind)
    if f.kind == "json":
        try:
            return json.loads(text)
        except ValueError as exc:
            where = f"metadata/{f.name}"
            raise Invalid(f"{where}: not JSON ({exc})", field=where) from exc
    return text


def read(form: Posted, given: list[FormField]) -> dict[str, Any]:
    """The changes the form asks for: every field's value, None where it was left empty."""
    return {f.name: _value(form, f) for f in given}


def errors(exc: ScandepotError) -> dict[str, list[str]]:
    """The problems of a metadata check by the field of the form they belong to
    (``metadata/authors/0/name`` belongs to ``authors``)."""
    found: dict[str, list[str]] = {}
    listed = exc.details or [{"name": exc.field or "", "reason": exc.message}]
    for item in listed:
        where = str(item.get("name", ""))
        top = where.split("/")[1] if where.startswith("metadata/") else ""
        found.setdefault(top, []).append(f"{where}: {item.get('reason', '')}")
    return found
