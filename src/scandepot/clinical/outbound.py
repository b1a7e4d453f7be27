"""Clinical records carried along with pushed images: each subject's record de-identified
by the push's script and the project's keys (:mod:`scandepot.clinical.outward`), keyed by
the pseudonymous Patient ID its pushed images carry.

The caller holds the transaction (the project's keys are made at first use: a write
transaction, or one after the keys exist) and has checked access: this reads the
catalog, it does not decide who may push.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.clinical import ClinicalLevel, ClinicalRecord
from scandepot.clinical import outward, schemas
from scandepot.deid.model import Keys, Script
from scandepot.errors import NotFound


@dataclass(frozen=True, slots=True)
class OutboundSession:
    study_instance_uid: str  # as the pushed images carry it
    values: dict[str, Any]
    schema_version: int


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """One subject's clinical data as it leaves: ``values`` its subject-level record
    ({} when it has none), ``sessions`` its sessions' records."""

    subject_id: int  # the catalog's, for the caller; never sent
    patient_id: str  # the pseudonymous Patient ID the pushed images carry
    values: dict[str, Any]
    schema_version: int | None
    sessions: list[OutboundSession] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """What is sent: no label, no catalog ID, only what the images carry too."""
        body: dict[str, Any] = {"patient_id": self.patient_id, "values": self.values}
        if self.schema_version is not None:
            body["schema_version"] = self.schema_version
        if self.sessions:
            body["sessions"] = [
                {
                    "study_instance_uid": s.study_instance_uid,
                    "values": s.values,
                    "schema_version": s.schema_version,
                }
                for s in self.sessions
            ]
        return body


def _records(
    db: DBSession, project_id: int, subject_ids: Collection[int]
) -> dict[tuple[int, int | None], ClinicalRecord]:
    rows = db.scalars(
        select(ClinicalRecord).where(
            ClinicalRecord.project_id == project_id,
            ClinicalRecord.subject_id.in_(list(subject_ids)),
            ClinicalRecord.values.is_not(None),
        )
    )
    return {(r.subject_id, r.session_id): r for r in rows if r.values}


def _schemas(db: DBSession, project_id: int) -> dict[str, dict[str, Any]]:
    found = {}
    for level in ClinicalLevel:
        row = schemas.newest_row(db, project_id, level)
        if row is not None:
            found[level.value] = row.schema
    return found


def deidentified_records(
    db: DBSession,
    project_id: int,
    subject_ids: Collection[int],
    *,
    script: Script | None = None,
    keys: Keys | None = None,
    session_ids: Collection[int] | None = None,
) -> list[OutboundRecord]:
    """The de-identified clinical record of each of ``subject_ids`` that has one (its own
    or one of its sessions'), in the order given. ``script``: the one the images go
    through (default: the project's export script in force; none: Conflict); ``keys``:
    default the project's. ``session_ids`` limits the sessions taken (those pushed)."""
    project = db.get(Project, project_id)
    if project is None:
        raise NotFound(f"No project {project_id}.", field="project")
    way = outward.export_way(db, project_id, project.label, script=script, keys=keys)
    records = _records(db, project_id, subject_ids)
    held = {subject for subject, _ in records}
    by_schema = _schemas(db, project_id)
    found = []
    for subject_id in dict.fromkeys(subject_ids):
        if subject_id not in held:
            continue
        subject = db.get(Subject, subject_id)
        if subject is None or subject.project_id != project_id:
            continue
        stmt = select(Session).where(Session.subject_id == subject_id).order_by(Session.id)
        if session_ids is not None:
            stmt = stmt.where(Session.id.in_(list(session_ids)))
        found.append(_one(way, subject, list(db.scalars(stmt)), records, by_schema))
    return found


def _one(
    way: outward.Way,
    subject: Subject,
    sessions: Sequence[Session],
    records: dict[tuple[int, int | None], ClinicalRecord],
    by_schema: dict[str, dict[str, Any]],
) -> OutboundRecord:
    patient_id, main = outward.original_patient_id(subject, sessions)
    who = outward.identity(way, subject, main, patient_id)
    own = records.get((subject.id, None))
    subject_schema = by_schema.get(ClinicalLevel.SUBJECT.value)
    values: dict[str, Any] = {}
    if own is not None and own.values and subject_schema is not None:
        values = outward.masked(subject_schema, own.values, who)
    out = OutboundRecord(
        subject.id, who.patient_id, values, own.schema_version if own is not None else None
    )
    session_schema = by_schema.get(ClinicalLevel.SESSION.value)
    for session in sessions:
        rec = records.get((subject.id, session.id))
        if rec is None or not rec.values or session_schema is None:
            continue
        own_id = (session.PatientID or "").strip() or patient_id
        seen = outward.identity(way, subject, session, own_id)
        out.sessions.append(
            OutboundSession(
                seen.study_uid or "",
                outward.masked(session_schema, rec.values, seen),
                rec.schema_version,
            )
        )
    return out
