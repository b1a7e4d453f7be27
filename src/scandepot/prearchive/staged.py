"""Staged sessions come into being here: one per (project, study), numbered once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog import journal
from scandepot.catalog.ids import next_value
from scandepot.catalog.prearchive import UNASSIGNED, StagedSession, Status
from scandepot.dicom.headers import Header
from scandepot.dicom.routing import Route
from scandepot.events import SessionReceived
from scandepot.prearchive import problems


def open_for_study(
    db: DBSession, project_key: str, header: Header, routed: Route, *, source: str, hold: bool
) -> int:
    """The ID of the staged session of ``header``'s study in ``project_key``, created on
    the study's first instance with what routing gave, the study's attributes and who
    sent it (``source``). Safe against another writer creating it at the same time."""
    query = select(StagedSession.id).where(
        StagedSession.project_key == project_key,
        StagedSession.StudyInstanceUID == header.StudyInstanceUID,
    )
    found = db.scalar(query)
    if found is not None:
        return found
    try:
        with db.begin_nested():
            staged = StagedSession(
                # Never a number used before: it names the spool folder, which an archive
                # or delete of an earlier session with that number removes after its commit.
                id=next_value(db, "prearchive"),
                project_key=project_key,
                StudyInstanceUID=header.StudyInstanceUID,
                subject=routed.subject,
                session=routed.session,
                status=Status.RECEIVING,
                routing={"rule": routed.rule, "project": routed.project},
                problem_records=[],
                scans=[],
                source=source,
                hold=hold,
                PatientName=header.PatientName,
                PatientID=header.PatientID,
                PatientBirthDate=header.PatientBirthDate,
                PatientSex=header.PatientSex,
                StudyDate=header.StudyDate,
                StudyTime=header.StudyTime,
                StudyDescription=header.StudyDescription,
                AccessionNumber=header.AccessionNumber,
                StudyID=header.StudyID,
                TimezoneOffsetFromUTC=header.TimezoneOffsetFromUTC,
                ReferringPhysicianName=header.ReferringPhysicianName,
                InstitutionName=header.InstitutionName,
                Manufacturer=header.Manufacturer,
                ManufacturerModelName=header.ManufacturerModelName,
                StationName=header.StationName,
                MagneticFieldStrength=header.MagneticFieldStrength,
            )
            if routed.project is not None and project_key == UNASSIGNED:
                staged.problem_records = problems.store([problems.missing_project(routed.project)])
            db.add(staged)
            journal.record(db, _received(staged, routed))
    except IntegrityError:
        found = db.scalar(query)
        if found is None:
            raise
        return found
    return staged.id


def _received(staged: StagedSession, routed: Route) -> SessionReceived:
    return SessionReceived(
        staged_id=staged.id,
        project=staged.project_key or None,
        subject=routed.subject,
        session=routed.session,
        StudyInstanceUID=staged.StudyInstanceUID,
        source=staged.source or "",
        rule=routed.rule if staged.project_key else None,
    )
