"""What a de-identified copy (``deidentify``) adds to a transfer's check (plan.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.archive import Project
from scandepot.catalog.deid import Purpose
from scandepot.catalog.transfers import TransferKind
from scandepot.deid import in_force
from scandepot.transfers.requests import TransferRequest

# (code, message, the source session it is about or None), as Plan.problem takes them
Problem = tuple[str, str, str | None]


def problems(
    db: DBSession,
    source: Project,
    destination: str,
    request: TransferRequest,
    merges: list[tuple[str, str]],
) -> list[Problem]:
    """Problems of a de-identified copy: a move, resources, a merge (``merges``: each
    planned merge's destination session and source session), a source without an export
    script in force."""
    found: list[Problem] = []
    if not request.deidentify:
        if request.allow_burned_in:
            found.append(("deid", "allow_burned_in goes with deidentify.", None))
        return found
    if request.kind is TransferKind.MOVE:
        found.append(
            (
                "deid",
                "A move cannot de-identify: it deletes the source once the copy is verified, and "
                "a de-identified copy is not the original, so the originals would be kept "
                "nowhere. Copy with deidentify (and delete the source yourself if you mean to).",
                None,
            )
        )
    if not _enabled(db, source):
        found.append(
            (
                "deid",
                f"Project '{source.label}' has no export de-identification script in force; an "
                "owner saves one (purpose export) in its Manage tab.",
                None,
            )
        )
    if request.with_resources:
        found.append(
            (
                "deid",
                "Only DICOM instances can be de-identified: leave out with_resources (the "
                "scans' other resources and the project's, subjects' and sessions' ones).",
                None,
            )
        )
    for dest_session, where in merges:
        found.append(
            (
                "deid",
                f"A de-identified copy is a new study (new UIDs): it cannot be merged into "
                f"session '{dest_session}' of '{destination}'; map it to a new label, or skip it.",
                where,
            )
        )
    return found


def _enabled(db: DBSession, source: Project) -> bool:
    row = in_force.newest(db, source.id, Purpose.EXPORT)
    return row is not None and row.enabled


def deidentifies_archive(db: DBSession, dest: Project) -> bool:
    """Whether ``dest`` has an archive script in force: then nothing may reach its archive
    but through its prearchive, where the script runs as sessions are archived (a copy
    linked into its archive would put the originals there)."""
    row = in_force.newest(db, dest.id, Purpose.ARCHIVE)
    return row is not None and row.enabled
