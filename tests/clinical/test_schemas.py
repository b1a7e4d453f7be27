"""A project's clinical variables: a JSON Schema checked as one (Draft 2020-12), with our
rules; versions; what a new version says of the records already there."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import AuditEvent, User
from scandepot.clinical import records, schemas
from scandepot.clinical.records import Target
from scandepot.context import Context
from scandepot.errors import Forbidden, Invalid, NotFound
from tests.clinical.world import SCHEMA, actor, make_subjects


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        # Not a valid JSON Schema: the validator's own message, with where.
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "Not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"minimum": "x"}}}, "'x' is not of type 'number'"),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": "a"},
            "not of type 'array'",
        ),
        # Valid JSON Schemas that do not fit records.
        ({"type": "array"}, "must be 'object'"),
        ({"type": "object"}, "needs 'properties'"),
        ({"type": "object", "properties": {"a": {"type": "object"}}}, "one of string"),
        ({"type": "object", "properties": {"a": {"type": ["string", "null"]}}}, "one of string"),
        (
            {"type": "object", "properties": {"a": {"type": "string", "format": "date-time"}}},
            "only 'date'",
        ),
        ({"type": "object", "properties": {"subject": {"type": "string"}}}, "not one of"),
        ({"type": "object", "properties": {"a b": {"type": "string"}}}, "a name is"),
        (
            {"type": "object", "properties": {"a": {"type": "number", "x-unit": 3}}},
            "'x-unit' is a string",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
            "names no variable",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": True,
            },
            "must be false",
        ),
        ([1, 2], "JSON object"),
        # Nothing that refers elsewhere or combines schemas: no fetch, no hidden date.
        (
            {"type": "object", "properties": {"a": {"$ref": "file:///etc/hostname"}}},
            r"variable 'a': \$ref not taken",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string", "allOf": [{"format": "date"}]}},
            },
            "allOf not taken",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "$defs": {"d": {"type": "string"}},
            },
            r"\$defs not taken",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "pattern": r"(a)\1"}}},
            "not a regular expression RE2 takes",
        ),
    ],
)
def test_schemas_refused_with_the_reason(schema: Any, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        schemas.check_schema(schema)


def test_checker_lists_every_problem_by_path() -> None:
    checker = schemas.Checker(schemas.check_schema(SCHEMA))
    found = checker.problems(
        {"weight": "heavy", "age": 200, "diagnosis_date": "2024-13-01", "smoker": "yes", "x": 1}
    )
    by_path = {p.path: p.message for p in found}
    assert by_path["/x"] == "not a variable of the schema"
    assert "is not of type 'number'" in by_path["/weight"]
    assert "greater than the maximum of 150" in by_path["/age"]
    assert "is not a 'date'" in by_path["/diagnosis_date"]
    assert "is not of type 'boolean'" in by_path["/smoker"]
    assert by_path["/diagnosis"] == "required, and missing"
    assert checker.problems({"diagnosis": "AD", "age": 70, "diagnosis_date": "2024-02-29"}) == []
    assert "is not one of" in checker.problems({"diagnosis": "flu"})[0].message
    variables = {v.name: v for v in schemas.variables(SCHEMA)}
    assert variables["weight"].unit == "kg" and variables["diagnosis_date"].is_date
    assert variables["notes"].identifying and variables["diagnosis"].required


def test_versions_audit_and_conformance(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    project = make_project()
    owner = actor(users, "owner")
    first = schemas.save(ctx, owner, project, "subject", SCHEMA)
    assert first.changed and first.schema.version == 1
    assert first.schema.schema["additionalProperties"] is False
    again = schemas.save(ctx, owner, project, "subject", SCHEMA)
    assert not again.changed and again.schema.version == 1
    make_subjects(ctx, project, "S1", "S2")
    records.put(ctx, SYSTEM, Target(project, "S1"), {"diagnosis": "AD", "age": 90})
    records.put(ctx, SYSTEM, Target(project, "S2"), {"diagnosis": "HC", "age": 40})
    stricter = copy.deepcopy(SCHEMA)
    stricter["properties"]["age"]["maximum"] = 80
    saved = schemas.save(ctx, owner, project, "subject", stricter)
    assert saved.changed and saved.schema.version == 2
    report = saved.conformance
    assert (report.schema_version, report.records, report.failing) == (2, 2, 1)
    (bad,) = report.nonconforming
    assert (bad.subject, bad.schema_version, bad.problems[0].path) == ("S1", 1, "/age")
    # The record stays as it was; a change to it must pass the version in force.
    assert records.get(ctx, SYSTEM, Target(project, "S1")).values["age"] == 90
    with pytest.raises(Invalid, match="v2"):
        records.patch(ctx, SYSTEM, Target(project, "S1"), {"diagnosis": "MCI"})
    changed = records.patch(ctx, SYSTEM, Target(project, "S1"), {"age": 79})[0]
    assert changed.schema_version == 2
    assert schemas.check_records(ctx, owner, project, "subject").failing == 0
    assert [v.version for v in schemas.versions(ctx, owner, project, "subject")] == [2, 1]
    assert (
        schemas.version(ctx, owner, project, "subject", 1).schema["properties"]["age"]["maximum"]
        == 150
    )
    assert schemas.in_force(ctx, owner, project, "subject").version == 2
    with ctx.db.read() as db:
        events = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "clinical.schema_saved")
            .order_by(AuditEvent.id)
        ).all()
    assert [(e.target, e.detail["variables"], e.actor_login) for e in events] == [
        ("subject v1", 6, "owner"),
        ("subject v2", 6, "owner"),
    ]


def test_who_may_save_and_read(
    ctx: Context, make_project: Callable[..., str], users: dict[str, User]
) -> None:
    project = make_project()
    with pytest.raises(Forbidden):
        schemas.save(ctx, actor(users, "member"), project, "subject", SCHEMA)
    with pytest.raises(NotFound):
        schemas.save(ctx, actor(users, "outsider"), project, "subject", SCHEMA)
    with pytest.raises(NotFound, match="no clinical schema"):
        schemas.in_force(ctx, actor(users, "collaborator"), project, "subject")
    with pytest.raises(Invalid, match="not a level"):
        schemas.in_force(ctx, actor(users, "collaborator"), project, "visit")
    schemas.save(ctx, actor(users, "admin"), project, "session", SCHEMA)
    assert schemas.in_force(ctx, actor(users, "collaborator"), project, "session").version == 1


def test_patterns_run_in_linear_time_and_numbers_are_finite() -> None:
    """A pattern that backtracks for ever in Python's re answers at once under RE2; NaN
    and the infinities, which JSON cannot carry, are refused."""
    checker = schemas.Checker(
        schemas.check_schema(
            {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "pattern": "^(a+)+$"},
                    "weight": {"type": "number"},
                },
            }
        )
    )
    found = checker.problems({"code": "a" * 5000 + "!", "weight": float("nan")})
    by_path = {p.path: p.message for p in found}
    assert "does not match" in by_path["/code"] and by_path["/weight"] == "not a finite number"
    assert checker.problems({"code": "aaa", "weight": 1.5}) == []
    assert checker.problems({"weight": float("inf")})[0].message == "not a finite number"
