"""Where things live on disk, computed from labels.

    archive/{project}/resources/{resource}/files/...
    archive/{project}/subjects/{subject}/resources/{resource}/files/...
    archive/{project}/subjects/{subject}/sessions/{session}/resources/{resource}/files/...
    archive/{project}/subjects/{subject}/sessions/{session}/scans/{scan}/resources/{resource}/files/...

The fixed folder names (``subjects``, ``sessions``, ``scans``, ``resources``) sit between
labels, so no label can ever collide with them. A relabel or move renames one folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from scandepot.catalog.archive import Project, ResourceLevel, Scan, Session, Subject


def project_dir(project: str) -> PurePosixPath:
    return PurePosixPath(project)


def subject_dir(project: str, subject: str) -> PurePosixPath:
    return project_dir(project) / "subjects" / subject


def session_dir(project: str, subject: str, session: str) -> PurePosixPath:
    return subject_dir(project, subject) / "sessions" / session


def scan_dir(project: str, subject: str, session: str, scan: str) -> PurePosixPath:
    return session_dir(project, subject, session) / "scans" / scan


def owner_dir(
    project: str, subject: str | None, session: str | None, scan: str | None
) -> PurePosixPath:
    """The folder of whatever a resource hangs from, given the labels down to it."""
    if subject is None:
        return project_dir(project)
    if session is None:
        return subject_dir(project, subject)
    if scan is None:
        return session_dir(project, subject, session)
    return scan_dir(project, subject, session, scan)


def resource_files_dir(owner: PurePosixPath, resource: str) -> PurePosixPath:
    return owner / "resources" / resource / "files"


@dataclass(frozen=True, slots=True)
class Owner:
    """What a resource hangs from: a project, subject, session or scan, loaded."""

    project: Project
    subject: Subject | None = None
    session: Session | None = None
    scan: Scan | None = None

    @property
    def level(self) -> ResourceLevel:
        if self.scan is not None:
            return ResourceLevel.SCAN
        if self.session is not None:
            return ResourceLevel.SESSION
        if self.subject is not None:
            return ResourceLevel.SUBJECT
        return ResourceLevel.PROJECT

    @property
    def key(self) -> str:
        """The parent key stored on resources, unique per owner."""
        obj = self.scan or self.session or self.subject or self.project
        return f"{self.level.value}:{obj.id}"

    @property
    def dir(self) -> PurePosixPath:
        subject = self.session.subject if self.session is not None else self.subject
        return owner_dir(
            self.project.label,
            subject.label if subject is not None else None,
            self.session.label if self.session is not None else None,
            self.scan.label if self.scan is not None else None,
        )

    def resource_files_dir(self, resource: str) -> PurePosixPath:
        return resource_files_dir(self.dir, resource)
