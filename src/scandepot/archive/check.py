"""Prove that the catalog and the file store agree (``scandepot check``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import aliased

from scandepot.archive.layout import Owner
from scandepot.archive.models import File, Project, Resource, Scan, Session, Subject
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


def _catalogued(ctx: Context) -> Iterator[tuple[File, Path]]:
    subject = aliased(Subject)
    with ctx.db.read() as db:
        rows = db.execute(
            select(File, Resource, Project, subject, Session, Scan)
            .join(Resource, File.resource_id == Resource.id)
            .join(Project, Resource.project_id == Project.id)
            .outerjoin(Scan, Resource.scan_id == Scan.id)
            .outerjoin(Session, Resource.session_id == Session.id)
            .outerjoin(subject, Resource.subject_id == subject.id)
            .execution_options(yield_per=1000)
        )
        for file, resource, project, subj, session, scan in rows:
            owner = Owner(project, subj, session, scan)
            relative = owner.resource_files_dir(resource.label) / file.path
            yield file, ctx.archive_path(relative)


def check(ctx: Context, *, checksums: bool = True) -> Report:
    """Compare every catalogued file with the disk, and the disk with the catalog.

    With ``checksums`` every file is read and its SHA-256 compared; without, sizes only.
    """
    report = Report()
    known: set[str] = set()
    root = ctx.store.archive
    for record, path in _catalogued(ctx):
        report.checked += 1
        shown = str(path.relative_to(root))
        known.add(shown)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            report.missing.append(shown)
            continue
        if size != record.size:
            report.mismatched.append(f"{shown}: size {size}, catalog says {record.size}")
        elif checksums and file_digest(path).sha256 != record.sha256:
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
