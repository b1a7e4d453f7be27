"""What the clinical data tests share: a project with subjects, a schema of every kind of
variable, archived sessions of synthetic MR instances, and the export script."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from sqlalchemy import select

from scandepot.access.actors import ANONYMOUS, SYSTEM, Actor
from scandepot.archive import layout, subjects
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.access import User
from scandepot.catalog.archive import Project, Session, Subject
from scandepot.catalog.prearchive import StagedSession
from scandepot.clinical import schemas
from scandepot.context import Context
from scandepot.deid import manage
from scandepot.deid.manage import ScriptIn
from scandepot.dicom.synthetic import Series, Study, mr_instance

# Every kind of variable: a number with a unit, an integer with bounds, an allowed-values
# string, a boolean, a date, and identifying free text.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "weight": {"type": "number", "x-unit": "kg", "minimum": 0},
        "age": {"type": "integer", "minimum": 0, "maximum": 150, "x-unit": "years"},
        "diagnosis": {"type": "string", "enum": ["AD", "MCI", "HC"]},
        "smoker": {"type": "boolean"},
        "diagnosis_date": {"type": "string", "format": "date"},
        "notes": {"type": "string", "x-identifying": True},
    },
    "required": ["diagnosis"],
}
SESSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "mmse": {"type": "integer", "minimum": 0, "maximum": 30},
        "visit_date": {"type": "string", "format": "date"},
    },
}
# The basic profile keeping dates moved by a per-patient shift (docs/deid-profile.md).
PROFILE_SHIFTING = '{"options": ["RetainLongitudinalModifiedDates"]}'
PROFILE_BASIC = '{"options": []}'


@dataclass(frozen=True)
class Archived:
    subject: str
    session: str
    PatientID: str
    StudyDate: str
    files: list[Path]


def set_schemas(ctx: Context, project: str) -> None:
    schemas.save(ctx, SYSTEM, project, "subject", SCHEMA)
    schemas.save(ctx, SYSTEM, project, "session", SESSION_SCHEMA)


def save_export_script(ctx: Context, project: str, text: str = PROFILE_SHIFTING) -> None:
    manage.save(ctx, SYSTEM, project, "export", ScriptIn(kind="profile", text=text))


def archive_study(
    ctx: Context, project: str, subject: str, session: str, study: Study, instances: int = 2
) -> Archived:
    """``instances`` synthetic MR instances of ``study`` received as an upload to
    ``subject``/``session`` and archived."""
    from scandepot.ingest.receive import Source, receive
    from scandepot.prearchive import operations

    for number in range(1, instances + 1):
        ds = mr_instance(study, Series(1), number, rows=8, columns=8)
        out = BytesIO()
        ds.save_as(out, enforce_file_format=True)
        with ctx.store.stage() as staged:
            staged.write(out.getvalue())
            receive(
                ctx,
                staged,
                Source("upload", project=project, subject=subject, session=session),
            )
    with ctx.db.read() as db:
        held = db.scalar(
            select(StagedSession.id).where(StagedSession.StudyInstanceUID == study.StudyInstanceUID)
        )
    assert held is not None
    operations.archive(ctx, SYSTEM, held)
    folder = ctx.archive_path(layout.session_dir(project, subject, session))
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix == ".dcm")
    assert len(files) == instances, files
    return Archived(subject, session, study.PatientID, study.StudyDate, files)


def ids(ctx: Context, project: str, subject: str) -> tuple[int, int, list[int]]:
    """The catalog IDs of ``project``, its ``subject`` and the subject's sessions."""
    with ctx.db.read() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == project))
        subject_id = db.scalar(
            select(Subject.id).where(Subject.project_id == project_id, Subject.label == subject)
        )
        sessions = list(db.scalars(select(Session.id).where(Session.subject_id == subject_id)))
    assert project_id is not None and subject_id is not None
    return project_id, subject_id, sessions


def actor(users: dict[str, User], name: str) -> Actor:
    """The actor of one of the ``users`` fixture's accounts."""
    if name == "anonymous":
        return ANONYMOUS
    user = users[name]
    return Actor(user_id=user.id, login=user.login, is_site_admin=user.is_site_admin)


def make_subjects(ctx: Context, project: str, *labels: str) -> None:
    for label in labels:
        subjects.create(ctx, SYSTEM, project, SubjectCreate(label=label))
