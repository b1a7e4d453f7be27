"""A release's manifest read a page at a time (keyset paging on ``DatasetFile.id``), each
row with the archive's file its ``file_id`` points to, where that file is now (labels
change, the file's folder with them): what validation reads and downloads send. A release
of millions of files is never held here whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import exists, or_, select

from scandepot.archive.layout import owner_dir, resource_files_dir
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.datasets import DatasetFile
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context

PAGE = 500  # manifest rows read per query


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    path: str  # inside the release
    size: int
    sha256: str
    md5: str
    file_id: int | None
    disk: Path | None  # the archive's file, where it is now; None when it is gone
    dicom: bool
    crc32: int | None  # the archive's CRC-32 of the file (zip headers), when it has one
    project_id: int
    session_id: int | None


def _page(ctx: Context, version_id: int, after: int, limit: int) -> list[Row]:
    is_dicom = or_(
        File.format == "DICOM",
        exists().where(Instance.file_id == DatasetFile.file_id),
    )
    stmt = (
        select(
            DatasetFile.id,
            DatasetFile.path,
            DatasetFile.size,
            DatasetFile.sha256,
            DatasetFile.md5,
            DatasetFile.file_id,
            DatasetFile.project_id,
            DatasetFile.session_id,
            File.path,
            File.crc32,
            Resource.label,
            Project.label,
            Subject.label,
            Session.label,
            Scan.label,
            is_dicom,
        )
        .outerjoin(File, File.id == DatasetFile.file_id)
        .outerjoin(Resource, File.resource_id == Resource.id)
        .outerjoin(Project, Resource.project_id == Project.id)
        .outerjoin(Subject, Resource.subject_id == Subject.id)
        .outerjoin(Session, Resource.session_id == Session.id)
        .outerjoin(Scan, Resource.scan_id == Scan.id)
        .where(DatasetFile.version_id == version_id, DatasetFile.id > after)
        .order_by(DatasetFile.id)
        .limit(limit)
    )
    with ctx.db.read() as db:
        found = db.execute(stmt).all()
    return [_row(ctx, r) for r in found]


def _row(ctx: Context, r: Any) -> Row:
    (id_, path, size, sha256, md5, file_id, project_id, session_id) = r[:8]
    (file_path, crc32, resource, project, subject, session, scan, dicom) = r[8:]
    disk = None
    if file_path is not None and project is not None:
        folder = resource_files_dir(owner_dir(project, subject, session, scan), resource)
        disk = ctx.archive_path(folder / file_path)
    return Row(
        id_, path, size, sha256, md5, file_id, disk, bool(dicom), crc32, project_id, session_id
    )


def pages(ctx: Context, version_id: int, after: int = 0, *, limit: int = 0) -> Iterator[list[Row]]:
    """The manifest's rows after ``after``, in order, ``limit`` (default :data:`PAGE`) a
    page."""
    while True:
        found = _page(ctx, version_id, after, limit or PAGE)
        if not found:
            return
        yield found
        after = found[-1].id
