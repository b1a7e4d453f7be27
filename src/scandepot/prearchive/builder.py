"""Building staged sessions: scans from series, the project's series filter, conflicts.

A session is built once no instance has arrived for the quiet time
(SCANDEPOT_PREARCHIVE_QUIET_S). Building reads only the catalog; it moves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project, Scan, SeriesFilterMode, Session, Subject
from scandepot.catalog.deid import Purpose
from scandepot.catalog.labels import LABEL_RULE, by_label, find_labelled
from scandepot.catalog.prearchive import UNASSIGNED, Instance, StagedSession, Status
from scandepot.deid import in_force
from scandepot.dicom.routing import clean
from scandepot.prearchive import problems as problems_
from scandepot.prearchive.problems import Kind, Problem


@dataclass(frozen=True, slots=True)
class Plan:
    scans: list[dict[str, Any]]
    problems: list[Problem]
    conflicts: list[str]

    def reasons(self) -> str:
        """Why the session waits, in a sentence or a few."""
        return "; ".join(self.conflicts or [p.text for p in self.problems])


def series_filter(project: Project | None) -> tuple[str, list[re.Pattern[str]]]:
    if project is None or project.series_filter_mode == SeriesFilterMode.OFF:
        return SeriesFilterMode.OFF, []
    return project.series_filter_mode, [re.compile(p) for p in project.series_filter]


def excluded(mode: str, patterns: list[re.Pattern[str]], description: str) -> bool:
    if mode == SeriesFilterMode.OFF:
        return False
    hit = any(p.search(description) for p in patterns)
    return not hit if mode == SeriesFilterMode.ALLOW else hit


NO_PROJECT = Problem(Kind.NO_PROJECT, "No project: route the session to a project to archive it.")


def routed_project(staged: StagedSession) -> str | None:
    """The project ID the routing rules named for ``staged``, as the header spelled it."""
    value = (staged.routing or {}).get("project")
    return value if isinstance(value, str) and value else None


def _resolve(db: DBSession, staged: StagedSession) -> Problem | None:
    """Put an unassigned session into the project its routing names, matched ignoring
    case as labels are (``xnat://pilot`` reaches project ``PILOT``); otherwise return
    why it stays unassigned."""
    routed = routed_project(staged)
    if staged.project_key != UNASSIGNED:
        return None
    if routed is None:
        return NO_PROJECT
    project = db.scalar(by_label(select(Project), Project.label, routed))
    if project is None:
        return problems_.missing_project(routed)
    clash = db.scalar(
        select(StagedSession.id).where(
            StagedSession.project_key == project.label,
            StagedSession.StudyInstanceUID == staged.StudyInstanceUID,
        )
    )
    if clash is not None:
        return Problem(
            Kind.PROJECT,
            f"Project '{project.label}' already holds this study in staged session {clash}; "
            "archive or delete that one first.",
        )
    staged.project_key = project.label
    return None


def _series_rows(db: DBSession, staged: StagedSession) -> Sequence[Row[*tuple[Any, ...]]]:
    """Each series of a staged session, summed up from its instances, by Series Number."""
    return db.execute(
        select(
            Instance.SeriesInstanceUID,
            func.min(Instance.SeriesNumber),
            func.min(Instance.SeriesDescription),
            func.min(Instance.Modality),
            func.min(Instance.BodyPartExamined),
            func.count(Instance.id),
            func.sum(Instance.size),
            func.sum(func.coalesce(Instance.NumberOfFrames, 1)),
            func.min(Instance.SeriesDate),
            func.min(Instance.SeriesTime),
            func.min(Instance.PerformedProcedureStepStartDate),
            func.min(Instance.PerformedProcedureStepStartTime),
        )
        .where(Instance.staged_id == staged.id, Instance.duplicate_of.is_(None))
        .group_by(Instance.SeriesInstanceUID)
        .order_by(func.min(Instance.SeriesNumber), Instance.SeriesInstanceUID)
    ).all()


_DATES_AND_TIMES = (
    "SeriesDate",
    "SeriesTime",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)


def _dates_and_times(values: Sequence[Any]) -> dict[str, str | None]:
    """A series' dates and times as the plan keeps them (ISO 8601 text), by keyword."""
    return {
        keyword: value.isoformat() if value is not None else None
        for keyword, value in zip(_DATES_AND_TIMES, values, strict=True)
    }


def plan(db: DBSession, staged: StagedSession) -> Plan:
    """Scans (one per series, ID = Series Number), what is left out, and the conflicts
    archiving would meet."""
    project = (
        db.scalar(select(Project).where(Project.label == staged.project_key))
        if staged.project_key != UNASSIGNED
        else None
    )
    rows = _series_rows(db, staged)
    mode, patterns = series_filter(project)
    scans: list[dict[str, Any]] = []
    problems: list[Problem] = []
    taken: set[str] = set()
    for row in rows:
        uid, number, description, modality, body_part, count, size, frames = row[:8]
        base = str(number) if number is not None else "0"
        scan_id, k = base, 1
        while scan_id in taken:  # two series with one number: 5, 5-2, 5-3 ...
            k += 1
            scan_id = f"{base}-{k}"
        taken.add(scan_id)
        left_out = excluded(mode, patterns, description or "")
        if left_out:
            what = description or "no description"
            problems.append(
                Problem(Kind.LEFT_OUT, f"Series {scan_id} ({what}) left out by the series filter.")
            )
        scans.append(
            {
                "id": scan_id,
                "SeriesInstanceUID": uid,
                "SeriesNumber": number,
                "SeriesDescription": description,
                "Modality": modality,
                "BodyPartExamined": body_part,
                "files": int(count),
                "size": int(size or 0),
                "frames": int(frames or 0),
                **_dates_and_times(row[8:]),
                "excluded": left_out,
            }
        )
    if project is None:
        # Not a conflict: the session waits until someone routes it to a project.
        problems.append(_resolve(db, staged) or NO_PROJECT)
        return Plan(scans, problems, [])
    uids = not deidentified(db, project)
    return Plan(scans, problems, conflicts_with_archive(db, staged, project, scans, uids=uids))


def deidentified(db: DBSession, project: Project) -> bool:
    """Whether ``project`` has an archive script in force: then what is archived carries
    the UIDs the script gives, not those received (prearchive.deidentify)."""
    row = in_force.newest(db, project.id, Purpose.ARCHIVE)
    return row is not None and row.enabled


def conflicts_with_archive(
    db: DBSession,
    staged: StagedSession,
    project: Project,
    scans: list[dict[str, Any]],
    *,
    uids: bool = True,
) -> list[str]:
    """What archiving ``staged`` as planned would clash with. Without ``uids`` the study
    and series UIDs are not compared: in a project with an archive script the staged UIDs
    are not those that will be archived, and archiving compares them once de-identified."""
    found: list[str] = []
    subject_label, session_label = clean(staged.subject), clean(staged.session)
    if subject_label is None or session_label is None:
        return [f"Subject and session labels are needed ({LABEL_RULE})."]
    subject = find_labelled(db, Subject, project.id, subject_label)
    if subject is None and not project.allow_subject_creation:
        found.append(
            f"Subject '{subject_label}' does not exist and the project does not allow "
            "creating subjects."
        )
    session = find_labelled(db, Session, project.id, session_label)
    if uids:
        besides = session.id if session is not None else -1
        elsewhere = archived_as(db, project, staged.StudyInstanceUID, besides=besides)
        if elsewhere is not None:
            found.append(f"{elsewhere}.")
        if session is not None and session.StudyInstanceUID not in (None, staged.StudyInstanceUID):
            found.append("Invalid modification of session UID")
    if session is None:
        return found
    if subject is not None and session.subject_id != subject.id:
        found.append(
            f"Session '{session_label}' belongs to subject '{session.subject.label}', "
            f"not '{subject_label}'."
        )
    if uids:
        found += _scan_conflicts(db, session, scans)
    return found


def _scan_conflicts(db: DBSession, session: Session, scans: list[dict[str, Any]]) -> list[str]:
    """Scans of the plan whose ID an archived scan of another series holds."""
    found: list[str] = []
    existing = {
        scan.label: scan for scan in db.scalars(select(Scan).where(Scan.session_id == session.id))
    }
    for item in scans:
        if item["excluded"]:
            continue
        scan = existing.get(item["id"])
        if scan is not None and scan.SeriesInstanceUID not in (None, item["SeriesInstanceUID"]):
            found.append(
                f"Scan {item['id']} exists with Series Instance UID {scan.SeriesInstanceUID}; "
                f"the incoming scan {item['id']} has {item['SeriesInstanceUID']}."
            )
    return found


def archived_as(db: DBSession, project: Project, study: str, *, besides: int = -1) -> str | None:
    """Why ``study`` cannot be archived in ``project`` under a session label other than
    the one it has there (the session ``besides`` aside): a study is one session of a
    project, whichever way it came (C-STORE, upload, a move in the prearchive); merging
    means giving it that label. None when the project holds it under no other label."""
    other = db.execute(
        select(Session.label, Session.stable_id, Subject.label)
        .join(Subject, Session.subject_id == Subject.id)
        .where(
            Session.project_id == project.id,
            Session.StudyInstanceUID == study,
            Session.id != besides,
        )
        .limit(1)
    ).first()
    if other is None:
        return None
    label, stable_id, subject = other
    return (
        f"Study {study} is archived already in project '{project.label}' as session "
        f"'{label}' ({stable_id}, subject '{subject}'); give it the labels "
        f"'{subject}/{label}' to merge into it"
    )


def build(db: DBSession, staged: StagedSession) -> Plan:
    """Record the plan on the staged session and set its status (READY or CONFLICT); an
    unassigned session whose routing names a project (in any case) is put into it."""
    _resolve(db, staged)
    result = plan(db, staged)
    staged.scans = result.scans
    kept = [p for p in problems_.load(staged.problem_records) if p.kind in problems_.KEPT_BY_BUILD]
    conflicts = [Problem(Kind.CONFLICT, text) for text in result.conflicts]
    staged.problem_records = problems_.store([*kept, *result.problems, *conflicts])
    staged.status = Status.CONFLICT if result.conflicts else Status.READY
    return result


def for_archive(db: DBSession, staged: StagedSession) -> Plan:
    """The plan archiving follows: the one the last build recorded, while the session is
    READY (an instance arriving, a relabel or a move sets it building again), with its
    conflicts with the archive checked again now, since the archive may have changed
    meanwhile; a session in any other state is built now."""
    project = db.scalar(select(Project).where(Project.label == staged.project_key))
    if staged.status != Status.READY or project is None:
        return build(db, staged)
    recorded = problems_.load(staged.problem_records)
    uids = not deidentified(db, project)
    conflicts = conflicts_with_archive(db, staged, project, staged.scans, uids=uids)
    if conflicts:
        found = [Problem(Kind.CONFLICT, text) for text in conflicts]
        staged.problem_records = problems_.store([*recorded, *found])
        staged.status = Status.CONFLICT
    return Plan(list(staged.scans), recorded, conflicts)
