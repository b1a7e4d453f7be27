"""A project's clinical variables: a JSON Schema (Draft 2020-12) per level, versioned.

A schema is an object schema whose ``properties`` are the variables, in the order exports
list them. Each variable has one ``type`` (string, number, integer, boolean); a date is a
string with ``"format": "date"`` (ISO 8601, checked); ``enum`` lists the allowed values,
``required`` the variables every record must hold, ``minimum``/``maximum``/``pattern``/
``maxLength`` and the other Draft 2020-12 keywords work as the standard says. Two keywords
of our own (JSON Schema lets a schema carry more): ``x-unit`` (the unit a number is in,
shown beside it) and ``x-identifying`` (true: free text that may name someone, left out of
every de-identified export). A record holds only the schema's variables:
``additionalProperties`` is false whatever the schema says.

Saving writes a new version (nothing when it is the newest one again); records keep the
version they were checked against, and the answer lists the records that do not pass the
new version (:func:`check_records` lists them at any time): they stay as they are until
someone changes them, and a change must pass the version in force. docs/clinical.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.clinical import ClinicalLevel, ClinicalRecord, ClinicalSchema
from scandepot.clinical import validator
from scandepot.context import Context
from scandepot.errors import Invalid, NotFound

MAX_SCHEMA_BYTES = 256 * 1024
MAX_VARIABLES = 500
TYPES = ("string", "number", "integer", "boolean")
UNIT = "x-unit"
IDENTIFYING = "x-identifying"
# A variable's name: a CSV column and a JSON key, the same in every tool.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
# Columns every export writes beside the variables: no variable may take their names.
RESERVED = frozenset({"subject", "session", "patient_id", "study_instance_uid"})
SHOWN_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: str
    is_date: bool
    unit: str | None
    identifying: bool
    required: bool
    enum: list[Any] | None
    title: str | None


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    project: str
    level: str
    version: int
    schema: dict[str, Any]
    created_by: str
    created_at: datetime

    @property
    def variables(self) -> list[Variable]:
        return variables(self.schema)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a record does not pass: ``path`` is a JSON Pointer ("/age")."""

    path: str
    message: str


def parse_level(level: str) -> ClinicalLevel:
    try:
        return ClinicalLevel(level)
    except ValueError:
        raise Invalid(
            f"'{level[:40]}' is not a level: 'subject' or 'session'.", field="level"
        ) from None


def variables(schema: Mapping[str, Any]) -> list[Variable]:
    """The schema's variables in its order."""
    required = set(schema.get("required", []))
    found = []
    for name, prop in schema.get("properties", {}).items():
        unit = prop.get(UNIT)
        found.append(
            Variable(
                name=name,
                type=prop.get("type", "string"),
                is_date=prop.get("type") == "string" and prop.get("format") == "date",
                unit=unit if isinstance(unit, str) else None,
                identifying=prop.get(IDENTIFYING) is True,
                required=name in required,
                enum=prop.get("enum"),
                title=prop.get("title") if isinstance(prop.get("title"), str) else None,
            )
        )
    return found


def _check_variable(name: str, prop: Any) -> None:
    where = f"variable '{name[:64]}'"
    if not _NAME.fullmatch(name) or name.lower() in RESERVED:
        raise Invalid(
            f"{where}: a name is a letter or '_', then letters, digits, '_', '.' or '-' "
            f"(at most 64), and not one of {', '.join(sorted(RESERVED))}.",
            field="schema",
        )
    if not isinstance(prop, dict):
        raise Invalid(f"{where}: a variable is an object schema.", field="schema")
    unknown = validator.unknown_keywords(prop, validator.VARIABLE_KEYWORDS)
    if unknown:
        raise Invalid(
            f"{where}: {', '.join(unknown)} not taken; a variable has a type and plain "
            "constraints (no references or combined schemas: docs/clinical.md).",
            field="schema",
        )
    if "pattern" in prop and (why := validator.pattern_problem(prop["pattern"])):
        raise Invalid(f"{where}: {why}.", field="schema")
    kind = prop.get("type")
    if kind not in TYPES:
        raise Invalid(
            f"{where}: 'type' must be one of {', '.join(TYPES)} (a date is a string with "
            "format 'date'); nested objects and arrays do not fit one CSV column.",
            field="schema",
        )
    if kind == "string" and prop.get("format") in ("date-time", "time", "duration"):
        raise Invalid(
            f"{where}: of the temporal formats only 'date' is taken, so that "
            "de-identification can shift it as it shifts the images' dates.",
            field="schema",
        )
    if UNIT in prop and not isinstance(prop[UNIT], str):
        raise Invalid(f"{where}: '{UNIT}' is a string (e.g. \"kg\").", field="schema")
    if IDENTIFYING in prop and not isinstance(prop[IDENTIFYING], bool):
        raise Invalid(f"{where}: '{IDENTIFYING}' is true or false.", field="schema")


def check_schema(schema: Any) -> dict[str, Any]:
    """``schema`` checked (a valid Draft 2020-12 schema, then our rules), as it is stored:
    ``additionalProperties`` false. :class:`Invalid` with the validator's message."""
    if not isinstance(schema, dict):
        raise Invalid("A clinical schema is a JSON object (a JSON Schema).", field="schema")
    if len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
        raise Invalid(f"The schema is over {MAX_SCHEMA_BYTES // 1024} KiB.", field="schema")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        at = f" at /{where}" if where else ""
        raise Invalid(f"Not a valid JSON Schema{at}: {exc.message}", field="schema") from None
    unknown = validator.unknown_keywords(schema, validator.ROOT_KEYWORDS)
    if unknown:
        raise Invalid(
            f"The schema's {', '.join(unknown)} not taken: a clinical schema has its "
            "variables under 'properties' and which are 'required' (docs/clinical.md).",
            field="schema",
        )
    if schema.get("type") != "object":
        raise Invalid(
            "The schema's 'type' must be 'object': a record is an object.", field="schema"
        )
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        raise Invalid("The schema needs 'properties': one per variable.", field="schema")
    if len(props) > MAX_VARIABLES:
        raise Invalid(f"A schema has at most {MAX_VARIABLES} variables.", field="schema")
    for name, prop in props.items():
        _check_variable(name, prop)
    unknown = [n for n in schema.get("required", []) if n not in props]
    if unknown:
        raise Invalid(f"'required' names no variable: {', '.join(unknown)}.", field="schema")
    if schema.get("additionalProperties", False) is not False:
        raise Invalid(
            "'additionalProperties' must be false (or left out): a record holds only the "
            "schema's variables.",
            field="schema",
        )
    return {**schema, "additionalProperties": False}


class Checker:
    """A record's values against one schema version, every problem named by its path."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = schema
        self.names = set(schema.get("properties", {}))
        self._validator = validator.validator(schema)

    def problems(self, values: Any) -> list[Problem]:
        if not isinstance(values, dict):
            return [Problem("", "a record is a JSON object of variable: value")]
        found = [
            Problem(f"/{name}", "not a variable of the schema")
            for name in values
            if name not in self.names
        ]
        known = {k: v for k, v in values.items() if k in self.names}
        for name in validator.not_finite(known):
            found.append(Problem(f"/{name}", "not a finite number"))
            del known[name]
        for error in sorted(self._validator.iter_errors(known), key=lambda e: list(e.path)):
            path = "".join(f"/{p}" for p in error.absolute_path)
            if error.validator == "required":
                missing = re.match(r"^'(.*)' is a required property$", error.message)
                if missing:
                    found.append(Problem(f"/{missing.group(1)}", "required, and missing"))
                    continue
            found.append(Problem(path, error.message))
        return found


def problem_details(problems: list[Problem]) -> list[dict[str, str]]:
    return [{"name": p.path or "/", "reason": p.message} for p in problems[:SHOWN_PROBLEMS]]


def newest_row(db: DBSession, project_id: int, level: str) -> ClinicalSchema | None:
    return db.scalar(
        select(ClinicalSchema)
        .where(ClinicalSchema.project_id == project_id, ClinicalSchema.level == level)
        .order_by(ClinicalSchema.version.desc())
        .limit(1)
    )


def in_force_row(db: DBSession, project: Project, level: str) -> ClinicalSchema:
    """The schema in force; :class:`NotFound` saying how to make one when there is none."""
    row = newest_row(db, project.id, level)
    if row is None:
        raise NotFound(
            f"Project '{project.label}' has no clinical schema for the {level} level yet; "
            "an owner saves one first (PUT .../clinical/schema/{level}).",
            field="schema",
        )
    return row


def view(project: str, row: ClinicalSchema) -> SchemaVersion:
    return SchemaVersion(
        project, row.level, row.version, row.schema, row.created_by, row.created_at
    )


@dataclass(frozen=True, slots=True)
class Nonconforming:
    """A record that does not pass a schema version, and why."""

    subject: str
    session: str | None
    version: int  # the record's
    schema_version: int  # the version it was checked against when it was written
    problems: list[Problem]


@dataclass(frozen=True, slots=True)
class Conformance:
    """The records of a level against the schema in force: how many there are, how many
    do not pass, and the first :data:`SHOWN_PROBLEMS` of those."""

    schema_version: int
    records: int
    failing: int
    nonconforming: list[Nonconforming]


def conformance(db: DBSession, project_id: int, row: ClinicalSchema) -> Conformance:
    found = db.execute(
        select(ClinicalRecord, Subject.label, Session.label)
        .join(Subject, ClinicalRecord.subject_id == Subject.id)
        .outerjoin(Session, ClinicalRecord.session_id == Session.id)
        .where(
            ClinicalRecord.project_id == project_id,
            ClinicalRecord.level == row.level,
            ClinicalRecord.values.is_not(None),
        )
        .order_by(Subject.label, Session.label, ClinicalRecord.id)
    ).all()
    checker = Checker(row.schema)
    failing = []
    records = 0
    for record, subject, session in found:
        if record.values is None:  # a JSON null, as some databases keep None
            continue
        records += 1
        problems = checker.problems(record.values)
        if problems:
            failing.append(
                Nonconforming(subject, session, record.version, record.schema_version, problems)
            )
    return Conformance(row.version, records, len(failing), failing[:SHOWN_PROBLEMS])


def check_records(ctx: Context, actor: Actor, project: str, level: str) -> Conformance:
    """The records of ``level`` that do not pass the schema in force."""
    lvl = parse_level(level)
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        return conformance(db, proj.id, in_force_row(db, proj, lvl))


@dataclass(frozen=True, slots=True)
class Saved:
    schema: SchemaVersion
    changed: bool  # False: the same as the newest version; nothing was written
    # The records against the version now in force: those that no longer pass stay as
    # they are, checked against the version they were written under, until changed.
    conformance: Conformance


def save(ctx: Context, actor: Actor, project: str, level: str, schema: Any) -> Saved:
    """A new version of ``project``'s ``level`` schema (owners); audited."""
    lvl = parse_level(level)
    with ctx.db.read() as db:  # refused before the schema is read: no hint to outsiders
        projects.load(db, actor, project, Action.CONFIGURE)
    stored = check_schema(schema)
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.CONFIGURE)
        newest = newest_row(db, proj.id, lvl)
        if newest is not None and newest.schema == stored:
            return Saved(view(proj.label, newest), False, conformance(db, proj.id, newest))
        row = ClinicalSchema(
            project_id=proj.id,
            level=lvl.value,
            version=(newest.version + 1) if newest is not None else 1,
            schema=stored,
            created_by=actor.login[:64],
        )
        db.add(row)
        db.flush()
        audit.record(
            db,
            actor,
            AuditAction.CLINICAL_SCHEMA_SAVED,
            project=proj.label,
            target=f"{lvl.value} v{row.version}",
            variables=len(stored["properties"]),
        )
        db.refresh(row)
        return Saved(view(proj.label, row), True, conformance(db, proj.id, row))


def in_force(ctx: Context, actor: Actor, project: str, level: str) -> SchemaVersion:
    lvl = parse_level(level)
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        return view(proj.label, in_force_row(db, proj, lvl))


def in_force_all(ctx: Context, actor: Actor, project: str) -> dict[str, SchemaVersion | None]:
    """The schema in force of each level; None for a level without one."""
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        found = {level.value: newest_row(db, proj.id, level) for level in ClinicalLevel}
        return {k: view(proj.label, row) if row else None for k, row in found.items()}


def versions(ctx: Context, actor: Actor, project: str, level: str) -> list[SchemaVersion]:
    """Every version, newest first."""
    lvl = parse_level(level)
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        rows = db.scalars(
            select(ClinicalSchema)
            .where(ClinicalSchema.project_id == proj.id, ClinicalSchema.level == lvl)
            .order_by(ClinicalSchema.version.desc())
        )
        return [view(proj.label, row) for row in rows]


def version(ctx: Context, actor: Actor, project: str, level: str, number: int) -> SchemaVersion:
    lvl = parse_level(level)
    with ctx.db.read() as db:
        proj = projects.load(db, actor, project, Action.READ)
        row = db.scalar(
            select(ClinicalSchema).where(
                ClinicalSchema.project_id == proj.id,
                ClinicalSchema.level == lvl,
                ClinicalSchema.version == number,
            )
        )
        if row is None:
            raise NotFound(
                f"Project '{project}' has no {lvl.value} schema version {number}.",
                field="version",
            )
        return view(proj.label, row)
