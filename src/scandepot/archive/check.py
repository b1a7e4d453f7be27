"""Prove that the catalog and the file store agree (``scandepot check``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from scandepot.archive.layout import owner_dir, resource_files_dir
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.context import Context
from scandepot.storage.store import file_digest


@dataclass
class Report:
    checked: int = 0
    missing: list[str] = field(default_factory=list)  # catalogued, not on disk
    uncatalogued: list[str] = field(default_factory=list)  # on disk, not catalogued
    mismatched: list[str] = field(default_factory=list)  # size or checksum differs

    @property
    def ok(self) -> bool:
        return not (self.missing or self.uncatalogued or self.mismatched)


def _catalogued(ctx: Context) -> Iterator[tuple[str, int, str, Path]]:
    """(path, size, sha256, where it should be) for every catalogued file, streamed.

    Plain columns rather than entities: subject, session and scan are absent for
    resources higher up, and the models' eager joins must not turn those outer joins
    into inner ones.
    """
    stmt = (
        select(
            File.path,
            File.size,
            File.sha256,
            Resource.label,
            Project.label,
            Subject.label,
            Session.label,
            Scan.label,
        )
        .join(Resource, File.resource_id == Resource.id)
        .join(Project, Resource.project_id == Project.id)
        .outerjoin(Subject, Resource.subject_id == Subject.id)
        .outerjoin(Session, Resource.session_id == Session.id)
        .outerjoin(Scan, Resource.scan_id == Scan.id)
        .execution_options(yield_per=1000)
    )
    with ctx.db.read() as db:
        for path, size, sha256, resource, project, subject, session, scan in db.execute(stmt):
            folder = resource_files_dir(owner_dir(project, subject, session, scan), resource)
            yield path, size, sha256, ctx.archive_path(folder / path)


def check(ctx: Context, *, checksums: bool = True) -> Report:
    """Compare every catalogued file with the disk, and the disk with the catalog.

    With ``checksums`` every file is read and its SHA-256 compared; without, sizes only.
    """
    report = Report()
    known: set[str] = set()
    root = ctx.store.archive
    for _relative, size_expected, sha256, path in _catalogued(ctx):
        report.checked += 1
        shown = str(path.relative_to(root))
        known.add(shown)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            report.missing.append(shown)
            continue
        if size != size_expected:
            report.mismatched.append(f"{shown}: size {size}, catalog says {size_expected}")
        elif checksums and file_digest(path).sha256 != sha256:
            report.mismatched.append(f"{shown}: SHA-256 differs from the catalog")
    for folder, _dirs, names in os.walk(root):
        for name in names:
            shown = str((Path(folder) / name).relative_to(root))
            if shown not in known:
                report.uncatalogued.append(shown)
    report.missing.sort()
    report.uncatalogued.sort()
    report.mismatched.sort()
    return report
