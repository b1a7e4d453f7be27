"""Which archived instances a retrieval sends, and where their files are.

Only archived instances count (an instance row with its file); staged ones are not
retrievable. A scope that may not read a project sees nothing of it: an instance held
only there is "not found", exactly as one that does not exist. Site-wide, an instance
archived in several readable projects is sent once (the copy of the project created
first).
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select

from scandepot.archive import layout
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.dicom import uids
from scandepot.errors import BadRequest, NotFound
from scandepot.query.scope import Scope


@dataclass(frozen=True)
class Located:
    """One archived instance and its file."""

    study: str
    series: str
    sop_instance: str
    sop_class: str
    transfer_syntax: str
    path: pathlib.Path
    size: int
    sha256: str = ""  # the file's, as catalogued
    frames: int | None = None  # (0028,0008) Number of Frames, when the instance has it
    series_number: int | None = None
    instance_number: int | None = None


def check_uid(value: str, field: str) -> str:
    """``value`` when it is a UID (PS3.5 §9.1); :class:`BadRequest` naming ``field``."""
    try:
        return uids.check(value, field)
    except uids.InvalidUID as exc:
        raise BadRequest(str(exc), field=field) from None


def _query(
    scope: Scope, study: str, series: str | None, instance: str | None
) -> Select[*tuple[Any, ...]]:
    stmt = (
        select(
            Instance.StudyInstanceUID,
            Instance.SeriesInstanceUID,
            Instance.SOPInstanceUID,
            Instance.SOPClassUID,
            Instance.TransferSyntaxUID,
            Instance.NumberOfFrames,
            Instance.SeriesNumber,
            Instance.InstanceNumber,
            File.path,
            File.size,
            File.sha256,
            Resource.label,
            Scan.label,
            Session.label,
            Subject.label,
            Project.label,
        )
        .join(File, File.id == Instance.file_id)
        .join(Resource, Resource.id == File.resource_id)
        .join(Scan, Scan.id == Resource.scan_id)
        .join(Session, Session.id == Scan.session_id)
        .join(Subject, Subject.id == Session.subject_id)
        .join(Project, Project.id == Session.project_id)
        .where(Instance.StudyInstanceUID == study, scope.projects())
        # The sessions' index finds the study; a session made before its DICOM has none.
        .where(or_(Session.StudyInstanceUID == study, Session.StudyInstanceUID.is_(None)))
    )
    if series is not None:
        stmt = stmt.where(Instance.SeriesInstanceUID == series)
    if instance is not None:
        stmt = stmt.where(Instance.SOPInstanceUID == instance)
    return stmt.order_by(
        Instance.SeriesNumber,
        Instance.SeriesInstanceUID,
        Instance.InstanceNumber,
        Instance.SOPInstanceUID,
        Project.id,
    )


def locate(
    ctx: Context, scope: Scope, study: str, series: str | None = None, instance: str | None = None
) -> list[Located]:
    """The archived instances of the study (its series, the one instance) that ``scope``
    may read, ordered by series number and instance number; :class:`NotFound` when there
    is none, :class:`BadRequest` for a value that is not a UID."""
    study = check_uid(study, "study")
    series = None if series is None else check_uid(series, "series")
    instance = None if instance is None else check_uid(instance, "instance")
    with ctx.db.read() as db:
        rows = db.execute(_query(scope, study, series, instance)).all()
    found: list[Located] = []
    seen: set[str] = set()
    folders: dict[tuple[str, ...], pathlib.Path] = {}  # a resource's files: worked out once
    for row in rows:
        if row[2] in seen:
            continue  # the same instance in another readable project: sent once
        seen.add(row[2])
        labels = tuple(row[11:])
        folder = folders.get(labels)
        if folder is None:
            owner = layout.owner_dir(row[15], row[14], row[13], row[12])
            folder = folders[labels] = ctx.archive_path(layout.resource_files_dir(owner, row[11]))
        found.append(
            Located(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                path=folder / row[8],
                size=row[9],
                sha256=row[10],
                frames=row[5],
                series_number=row[6],
                instance_number=row[7],
            )
        )
    if not found:
        raise NotFound(_missing(study, series, instance), field=_field(series, instance))
    return found


def _field(series: str | None, instance: str | None) -> str:
    return "instance" if instance is not None else "series" if series is not None else "study"


def _missing(study: str, series: str | None, instance: str | None) -> str:
    if instance is not None:
        within = f"series {series} of study {study}" if series is not None else f"study {study}"
        return f"No instance {instance} in {within}."
    if series is not None:
        return f"No series {series} in study {study}."
    return f"No study {study}."
