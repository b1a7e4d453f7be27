"""The validation's checks that read the catalog alone, a few queries for the whole
release: each subject and session of the release has images, and the clinical variables
its project's schema requires.

The release's subjects and sessions are those its manifest's files hang from, with the
version's members (a subject or session chosen that brought no file is one without
images); a subject member brings its sessions as the archive holds them when the check
runs (just after the release).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Session, Subject
from scandepot.catalog.clinical import ClinicalLevel, ClinicalRecord
from scandepot.catalog.datasets import DatasetFile, DatasetMember
from scandepot.clinical import schemas
from scandepot.datasets.validation_report import Progress

CHUNK = 500  # ids per IN list


@dataclass(frozen=True, slots=True)
class Held:
    """A subject or session of the release: its ids, label, and how many images it has."""

    id: int
    project_id: int
    subject_id: int
    name: str  # "S1 (SD_S00001)", as the archive labels it now
    images: int


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _counts(db: DBSession, version_id: int, column: Any) -> dict[int, int]:
    """Files of scans (images) per subject or session of the manifest."""
    found = db.execute(
        select(column, func.count(DatasetFile.scan_id))
        .where(DatasetFile.version_id == version_id, column.is_not(None))
        .group_by(column)
    )
    return {int(key): int(n) for key, n in found}


def held(db: DBSession, version_id: int) -> tuple[list[Held], list[Held]]:
    """The release's subjects and sessions."""
    by_subject = _counts(db, version_id, DatasetFile.subject_id)
    by_session = _counts(db, version_id, DatasetFile.session_id)
    members = db.execute(
        select(DatasetMember.subject_id, DatasetMember.session_id).where(
            DatasetMember.version_id == version_id
        )
    ).all()
    chosen = {s for s, _ in members if s is not None}  # subject members: all their sessions
    found = select(
        Session.id, Session.project_id, Session.subject_id, Session.label, Session.stable_id
    )
    session_ids = set(by_session) | {e for _, e in members if e is not None}
    queries = [found.where(Session.id.in_(c)) for c in _chunks(session_ids)]
    queries += [found.where(Session.subject_id.in_(c)) for c in _chunks(chosen)]
    sessions: dict[int, Held] = {}
    for query in queries:
        for id_, project_id, subject_id, label, stable in db.execute(query):
            name = f"{label} ({stable})"
            sessions[id_] = Held(id_, project_id, subject_id, name, by_session.get(id_, 0))
    subject_ids = set(by_subject) | chosen | {h.subject_id for h in sessions.values()}
    subjects: list[Held] = []
    for chunk in _chunks(subject_ids):
        for id_, project_id, label, stable in db.execute(
            select(Subject.id, Subject.project_id, Subject.label, Subject.stable_id).where(
                Subject.id.in_(chunk)
            )
        ):
            name = f"{label} ({stable})"
            subjects.append(Held(id_, project_id, id_, name, by_subject.get(id_, 0)))
    return sorted(subjects, key=lambda h: h.id), sorted(sessions.values(), key=lambda h: h.id)


def check_images(subjects: list[Held], sessions: list[Held], progress: Progress) -> None:
    tally = progress.checks["images"]
    for level, found in (("subject", subjects), ("session", sessions)):
        for one in found:
            tally.checked += 1
            if one.images == 0:
                tally.problem(**{level: one.name, "reason": f"the {level} has no images"})


def check_clinical(
    db: DBSession, subjects: list[Held], sessions: list[Held], progress: Progress
) -> None:
    """Each subject's (and session's) record holds every variable its project's schema
    in force requires; no record is as good as an empty one."""
    tally = progress.checks["clinical"]
    for level, found in ((ClinicalLevel.SUBJECT, subjects), (ClinicalLevel.SESSION, sessions)):
        by_project: dict[int, list[Held]] = {}
        for one in found:
            by_project.setdefault(one.project_id, []).append(one)
        for project_id, members in sorted(by_project.items()):
            row = schemas.newest_row(db, project_id, level)
            required = list(row.schema.get("required", [])) if row is not None else []
            if not required:
                tally.checked += len(members)
                continue
            values = _records(db, project_id, level, [m.id for m in members])
            for one in members:
                tally.checked += 1
                held_values = values.get(one.id) or {}
                missing = [n for n in required if held_values.get(n) in (None, "")]
                if missing:
                    reason = "missing required variable(s): " + ", ".join(missing)
                    tally.problem(**{level.value: one.name, "reason": reason})


def _records(
    db: DBSession, project_id: int, level: ClinicalLevel, ids: list[int]
) -> dict[int, dict[str, Any]]:
    key = ClinicalRecord.subject_id if level is ClinicalLevel.SUBJECT else ClinicalRecord.session_id
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        stmt = select(key, ClinicalRecord.values).where(
            ClinicalRecord.project_id == project_id,
            ClinicalRecord.level == level.value,
            key.in_(chunk),
        )
        if level is ClinicalLevel.SUBJECT:
            stmt = stmt.where(ClinicalRecord.session_id.is_(None))
        for id_, values in db.execute(stmt):
            found[int(id_)] = values if isinstance(values, dict) else {}
    return found
