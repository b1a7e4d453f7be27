"""A project's clinical records exported as CSV or JSON, as they are or de-identified.

Both formats carry the variables of the schema in force, in its order, and the records
of one level, by subject label (and session label). CSV: a header ``subject`` (and
``session``) then one column per variable; booleans ``true``/``false``, dates ISO 8601,
an absent value an empty cell. JSON: the schema's variables (name, type, unit) and the
records with their version.

De-identified (``deidentified``), the records go out as the images do
(:mod:`scandepot.clinical.outward`): the subject label is replaced by the pseudonymous
Patient ID the images carry (``patient_id``), a session label by the Study Instance UID
they carry (``study_instance_uid``), dates are moved as the images' dates are (or left
out), and ``x-identifying`` variables are not there at all. It takes the project's export
script in force, as de-identified downloads do (none: 409).

Exports take the project's download level; each is audited (``clinical.exported``).
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import audit
from scandepot.access.actors import Actor
from scandepot.access.audit import AuditAction
from scandepot.access.permissions import Action
from scandepot.archive import projects
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.clinical import ClinicalLevel, ClinicalRecord, ClinicalSchema
from scandepot.clinical import outward, schemas
from scandepot.clinical.schemas import Variable
from scandepot.context import Context
from scandepot.errors import Invalid

_CHUNK = 500  # IDs in one IN (...)


class Format(enum.StrEnum):
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Exported:
    content: str
    media_type: str
    filename: str
    records: int


@dataclass(frozen=True, slots=True)
class Row:
    """One record as it leaves: its keys (labels, or pseudonyms) and its values."""

    keys: dict[str, str]
    values: dict[str, Any]
    version: int | None
    schema_version: int


def parse_format(value: str) -> Format:
    try:
        return Format(value)
    except ValueError:
        raise Invalid(f"'{value[:40]}' is not a format: 'csv' or 'json'.", field="format") from None


def _found(
    db: DBSession, project: Project, level: str
) -> list[tuple[ClinicalRecord, Subject, Session | None]]:
    """The level's records with their subjects (and sessions), by label. Sessions are
    read apart: their eager joins would turn an outer join into an inner one."""
    stmt = (
        select(ClinicalRecord, Subject)
        .join(Subject, ClinicalRecord.subject_id == Subject.id)
        .where(ClinicalRecord.project_id == project.id, ClinicalRecord.level == level)
    )
    found = [(r, s) for r, s in db.execute(stmt).all() if r.values]
    wanted = sorted({r.session_id for r, _ in found if r.session_id is not None})
    sessions: dict[int, Session] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        sessions.update((e.id, e) for e in db.scalars(select(Session).where(Session.id.in_(chunk))))
    rows = [
        (r, s, sessions.get(r.session_id) if r.session_id is not None else None) for r, s in found
    ]
    return sorted(rows, key=lambda t: (t[1].label, t[2].label if t[2] else "", t[0].id))


def _plain(
    found: Iterable[tuple[ClinicalRecord, Subject, Session | None]], names: list[str]
) -> list[Row]:
    rows = []
    for record, subject, session in found:
        keys = {"subject": subject.label}
        if session is not None:
            keys["session"] = session.label
        values = {n: record.values[n] for n in names if record.values and n in record.values}
        rows.append(Row(keys, values, record.version, record.schema_version))
    return rows


def _sessions_by_subject(db: DBSession, subject_ids: set[int]) -> dict[int, list[Session]]:
    found: dict[int, list[Session]] = {}
    ids = sorted(subject_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for session in db.scalars(
            select(Session).where(Session.subject_id.in_(chunk)).order_by(Session.id)
        ):
            found.setdefault(session.subject_id, []).append(session)
    return found


def _masked(
    db: DBSession,
    project: Project,
    schema: ClinicalSchema,
    found: list[tuple[ClinicalRecord, Subject, Session | None]],
) -> list[Row]:
    way = outward.export_way(db, project.id, project.label)
    sessions = _sessions_by_subject(db, {subject.id for _, subject, _ in found})
    rows = []
    for record, subject, session in found:
        pid, main = outward.original_patient_id(subject, sessions.get(subject.id, []))
        if session is None:
            who = outward.identity(way, subject, main, pid)
            keys = {"patient_id": who.patient_id}
        else:
            own = (session.PatientID or "").strip() or pid
            who = outward.identity(way, subject, session, own)
            keys = {"patient_id": who.patient_id, "study_instance_uid": who.study_uid or ""}
        values = outward.masked(schema.schema, record.values or {}, who)
        rows.append(Row(keys, values, None, record.schema_version))
    return rows


# What a spreadsheet reads as a formula at the start of a cell (OWASP's CSV injection):
# such a text cell is written with a leading apostrophe, which spreadsheets show as text.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA) else value
    return str(value)


def _csv(rows: list[Row], keys: list[str], variables: list[Variable]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*keys, *(v.name for v in variables)])
    for row in rows:
        writer.writerow(
            [
                *(_cell(row.keys.get(k)) for k in keys),
                *(_cell(row.values.get(v.name)) for v in variables),
            ]
        )
    return out.getvalue()


def _json(
    rows: list[Row],
    level: str,
    schema: ClinicalSchema,
    variables: list[Variable],
    project: str | None,
) -> str:
    body: dict[str, Any] = {"level": level, "schema_version": schema.version}
    if project is not None:
        body["project"] = project
    body["variables"] = [
        {"name": v.name, "type": "date" if v.is_date else v.type, "unit": v.unit} for v in variables
    ]
    body["records"] = [
        {
            **row.keys,
            **({"version": row.version} if row.version is not None else {}),
            "schema_version": row.schema_version,
            "values": row.values,
        }
        for row in rows
    ]
    return json.dumps(body, ensure_ascii=False, indent=1)


def export(
    ctx: Context,
    actor: Actor,
    project: str,
    *,
    format: str = "csv",
    level: str = "subject",
    deidentified: bool = False,
) -> Exported:
    """The records of ``level`` in ``format``; see the module's docstring."""
    form = parse_format(format)
    lvl = schemas.parse_level(level)
    with ctx.db.write() as db:
        proj = projects.load(db, actor, project, Action.DOWNLOAD)
        schema = schemas.in_force_row(db, proj, lvl)
        variables = schemas.variables(schema.schema)
        found = _found(db, proj, lvl)
        if deidentified:
            variables = [v for v in variables if not v.identifying]
            rows = _masked(db, proj, schema, found)
            keys = ["patient_id"] + (["study_instance_uid"] if lvl == ClinicalLevel.SESSION else [])
        else:
            rows = _plain(found, [v.name for v in variables])
            keys = ["subject"] + (["session"] if lvl == ClinicalLevel.SESSION else [])
        audit.record(
            db,
            actor,
            AuditAction.CLINICAL_EXPORTED,
            project=proj.label,
            target="clinical",
            format=form.value,
            records=len(rows),
            deidentified=deidentified,
            level=lvl.value,
        )
    if form == Format.CSV:
        content = _csv(rows, keys, variables)
        media = "text/csv; charset=utf-8"
    else:
        content = _json(rows, lvl.value, schema, variables, None if deidentified else proj.label)
        media = "application/json"
    suffix = "-deidentified" if deidentified else ""
    name = f"{proj.label}-clinical-{lvl.value}{suffix}.{form.value}"
    return Exported(content, media, name, len(rows))
