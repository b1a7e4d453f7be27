"""A subject's (or a session's) clinical record: read, replaced, patched, deleted, and its
history.

Every change is checked against the schema in force for the record's level; every problem
is listed with its path (:class:`~scandepot.errors.Invalid` ``details``). Every change
writes a version (who, when, how: ``api``, ``import``, ``delete``; the values after it),
so the history says who changed what. A change that leaves the values as they are writes
nothing. A deleted record keeps its history; writing it again continues its versions.
A caller that read version ``n`` may ask that a change applies only to it (``expected``):
another change in between is a :class:`~scandepot.errors.Conflict`.

A record belongs to its subject's home project: a subject shared into another project
shows its record there, read-only, and under its home project's schema.
Reading takes the project's read level, writing its write level (as subjects' fields do),
deleting its manage level (as every delete inside a project does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import sessions, subjects
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.clinical import (
    ClinicalLevel,
    ClinicalRecord,
    ClinicalRecordVersion,
    ClinicalSchema,
)
from scandepot.clinical import schemas
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Invalid, NotFound


@dataclass(frozen=True, slots=True)
class Target:
    """Whose record: a subject's (``session`` None) or a session's, by label in ``project``."""

    project: str
    subject: str | None = None
    session: str | None = None

    @property
    def level(self) -> ClinicalLevel:
        return ClinicalLevel.SUBJECT if self.session is None else ClinicalLevel.SESSION


@dataclass(frozen=True, slots=True)
class RecordView:
    project: str
    level: str
    subject: str
    session: str | None
    values: dict[str, Any]
    version: int
    schema_version: int
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    values: dict[str, Any] | None  # None: deleted by this change
    schema_version: int
    changed_by: str
    changed_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class Owner:
    """The subject (and session) a record belongs to, loaded under the one check."""

    project: Project
    subject: Subject
    session: Session | None

    @property
    def level(self) -> str:
        return (ClinicalLevel.SUBJECT if self.session is None else ClinicalLevel.SESSION).value

    def where(self) -> Any:
        session_id = self.session.id if self.session is not None else None
        return (
            ClinicalRecord.project_id == self.project.id,
            ClinicalRecord.subject_id == self.subject.id,
            ClinicalRecord.session_id.is_(None)
            if session_id is None
            else ClinicalRecord.session_id == session_id,
        )


def owner(db: DBSession, actor: Actor, target: Target, action: Action) -> Owner:
    if target.session is not None:
        session = sessions.load(db, actor, target.project, target.session, action)
        return Owner(session.project, session.subject, session)
    if target.subject is None:
        raise Invalid("A clinical record is a subject's or a session's.", field="subject")
    subject = subjects.load(db, actor, target.project, target.subject, action)
    return Owner(subject.project, subject, None)


def record_of(db: DBSession, who: Owner) -> ClinicalRecord | None:
    return db.scalar(select(ClinicalRecord).where(*who.where()))


def _view(who: Owner, row: ClinicalRecord) -> RecordView:
    return RecordView(
        project=who.project.label,
        level=row.level,
        subject=who.subject.label,
        session=who.session.label if who.session is not None else None,
        values=dict(row.values or {}),
        version=row.version,
        schema_version=row.schema_version,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def _missing(who: Owner) -> NotFound:
    whose = (
        f"session '{who.session.label}'"
        if who.session is not None
        else f"subject '{who.subject.label}'"
    )
    return NotFound(f"No clinical record for {whose} in project '{who.project.label}'.")


def _expect(row: ClinicalRecord | None, expected: int | None) -> None:
    if expected is None:
        return
    current = row.version if row is not None else 0
    if current != expected:
        raise Conflict(
            f"The record is at version {current}, not {expected}: it changed since it was "
            "read. Read it again and redo the change.",
            field="version",
        )


def checked(schema: ClinicalSchema, values: Any) -> dict[str, Any]:
    """``values`` if they pass ``schema``, in its order; :class:`Invalid` listing every
    problem by its path otherwise."""
    problems = schemas.Checker(schema.schema).problems(values)
    if problems:
        first = problems[0]
        more = f" ({len(problems)} problems in all)" if len(problems) > 1 else ""
        raise Invalid(
            f"The record does not pass the {schema.level} schema v{schema.version}: "
            f"{first.path or '/'}: {first.message}{more}.",
            field="values",
            details=schemas.problem_details(problems),
        )
    return {name: values[name] for name in schema.schema["properties"] if name in values}


def new_row(who: Owner, schema_version: int, actor: Actor) -> ClinicalRecord:
    """A record not written yet (version 0, no values)."""
    return ClinicalRecord(
        project_id=who.project.id,
        subject_id=who.subject.id,
        session_id=who.session.id if who.session is not None else None,
        level=who.level,
        values=None,
        version=0,
        schema_version=schema_version,
        updated_by=actor.login[:64],
    )


def write(
    db: DBSession,
    actor: Actor,
    who: Owner,
    row: ClinicalRecord | None,
    values: dict[str, Any] | None,
    *,
    schema_version: int,
    source: str,
) -> tuple[ClinicalRecord, str]:
    """``values`` (checked; None deletes) as the record's next version: "created",
    "changed", "deleted", or "unchanged" (nothing written)."""
    if row is not None and row.values == values and row.values is not None:
        return row, "unchanged"
    status = "deleted" if values is None else ("changed" if row and row.values else "created")
    now = utcnow()
    if row is None:
        row = new_row(who, schema_version, actor)
        db.add(row)
    row.values = values
    row.version += 1
    row.schema_version = schema_version
    row.updated_by = actor.login[:64]
    row.updated_at = now
    if row.id is None:  # its version names it
        db.flush()
    db.add(
        ClinicalRecordVersion(
            record_id=row.id,
            version=row.version,
            values=values,
            schema_version=schema_version,
            changed_by=actor.login[:64],
            changed_at=now,
            source=source,
        )
    )
    return row, status


def audit_change(
    db: DBSession, actor: Actor, project: str, names: list[str], source: str, counts: Any
) -> None:
    """One audit entry for one change or one import: the subjects (or sessions) by label."""
    shown = ", ".join(names[:20]) + (f" (+{len(names) - 20})" if len(names) > 20 else "")
    audit.record(
        db,
        actor,
        AuditAction.CLINICAL_RECORDS_CHANGED,
        project=project,
        target=shown,
        source=source,
        created=counts.get("created", 0),
        changed=counts.get("changed", 0),
        deleted=counts.get("deleted", 0),
    )


def _label(who: Owner) -> str:
    return who.session.label if who.session is not None else who.subject.label


def _store(
    ctx: Context,
    actor: Actor,
    target: Target,
    values: Mapping[str, Any] | None,
    *,
    patch: bool,
    expected: int | None,
) -> tuple[RecordView | None, str]:
    if values is not None and not isinstance(values, Mapping):
        raise Invalid("A record is a JSON object of variable: value.", field="values")
    with ctx.db.write() as db:
        # Deleting takes what every delete inside a project takes; changing, write.
        who = owner(db, actor, target, Action.EDIT if values is not None else Action.DELETE)
        row = record_of(db, who)
        _expect(row, expected)
        if values is None and (row is None or row.values is None):
            raise _missing(who)
        schema = schemas.in_force_row(db, who.project, who.level)
        new: dict[str, Any] | None = None
        if values is not None:
            merged = dict(values)
            if patch:  # JSON Merge Patch (RFC 7396): null removes a variable
                merged = dict(row.values or {}) if row is not None else {}
                for name, value in values.items():
                    if value is None:
                        merged.pop(name, None)
                    else:
                        merged[name] = value
            new = checked(schema, merged)
        row, status = write(db, actor, who, row, new, schema_version=schema.version, source="api")
        if status != "unchanged":
            audit_change(db, actor, who.project.label, [_label(who)], "api", {status: 1})
        return (_view(who, row) if new is not None else None), status


def put(
    ctx: Context,
    actor: Actor,
    target: Target,
    values: Mapping[str, Any],
    *,
    expected: int | None = None,
) -> tuple[RecordView, str]:
    """The record replaced by ``values``: with its status (created, changed, unchanged)."""
    view, status = _store(ctx, actor, target, values, patch=False, expected=expected)
    assert view is not None
    return view, status


def patch(
    ctx: Context,
    actor: Actor,
    target: Target,
    changes: Mapping[str, Any],
    *,
    expected: int | None = None,
) -> tuple[RecordView, str]:
    """``changes`` merged into the record (a JSON Merge Patch: null removes a variable)."""
    view, status = _store(ctx, actor, target, changes, patch=True, expected=expected)
    assert view is not None
    return view, status


def delete(ctx: Context, actor: Actor, target: Target, *, expected: int | None = None) -> None:
    """The record's values removed; its history stays."""
    _store(ctx, actor, target, None, patch=False, expected=expected)


def get(ctx: Context, actor: Actor, target: Target) -> RecordView:
    with ctx.db.read() as db:
        who = owner(db, actor, target, Action.READ)
        row = record_of(db, who)
        if row is None or row.values is None:
            raise _missing(who)
        return _view(who, row)


@dataclass(frozen=True, slots=True)
class Shown:
    """What a page shows of a record: the variables in force, and the record if any."""

    schema_version: int
    variables: list[schemas.Variable]
    record: RecordView | None


def shown(ctx: Context, actor: Actor, target: Target) -> Shown | None:
    """The record with the schema's variables (units, titles); None when the project has
    no schema for the level."""
    with ctx.db.read() as db:
        who = owner(db, actor, target, Action.READ)
        schema = schemas.newest_row(db, who.project.id, who.level)
        if schema is None:
            return None
        row = record_of(db, who)
        record = _view(who, row) if row is not None and row.values else None
        return Shown(schema.version, schemas.variables(schema.schema), record)


def history(ctx: Context, actor: Actor, target: Target) -> list[VersionView]:
    """Every version of the record, newest first."""
    with ctx.db.read() as db:
        who = owner(db, actor, target, Action.READ)
        row = record_of(db, who)
        if row is None:
            raise _missing(who)
        found = db.scalars(
            select(ClinicalRecordVersion)
            .where(ClinicalRecordVersion.record_id == row.id)
            .order_by(ClinicalRecordVersion.version.desc())
        )
        return [
            VersionView(v.version, v.values, v.schema_version, v.changed_by, v.changed_at, v.source)
            for v in found
        ]
