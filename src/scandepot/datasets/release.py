"""Release: a draft becomes a frozen version, its manifest written once.

The manifest is every file of the draft's sessions (those named, and all sessions of
the subjects named), one :class:`DatasetFile` row each, with its path inside the release
(``{project}/{subject}/{session}/scans/{scan}/{resource}/{path}`` or
``.../{session}/resources/{resource}/{path}``, labels as they are now), size and
checksums, and the archive's file it holds. The rows are written by one
``INSERT ... SELECT`` on the server side: two million files are not carried through
Python, and in canonical order (paths byte by byte), so that the rows' ids follow it: the
checksum and the exports read them by id, with no second sort, and the index on
(version, path) is filled in its own order. ``manifest_sha256`` is the SHA-256 of the
manifest's canonical form, its ``sha256sum`` lines (``{sha256}  {path}\\n``) in that
order: the same text the manifest's sha256 export gives, so that anyone can check it.
The totals are counted in the same pass.

One release at a time per dataset: the dataset's row is locked (PostgreSQL; SQLite has
one writer), and a release is refused while another version's validation runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    case,
    collate,
    func,
    insert,
    literal,
    not_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.datasets import DatasetAction, load_dataset
from scandepot.access.permissions import Level, permission_clause
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.datasets import (
    Dataset,
    DatasetFile,
    DatasetMember,
    DatasetVersion,
    ValidationState,
    VersionState,
)
from scandepot.context import Context
from scandepot.datasets import metadata, validation
from scandepot.datasets.drafts import the_draft
from scandepot.datasets.lifecycle import record
from scandepot.datasets.views import VersionView, version_view
from scandepot.db.base import utcnow
from scandepot.errors import Conflict, Forbidden, Invalid

HASH_BATCH = 20_000  # manifest rows read at a time for its checksum
# PostgreSQL's memory for the release's sort and joins (the default 4 MB sorts two million
# paths on disk); for this transaction only.
WORK_MEM = "256MB"


def release(ctx: Context, actor: Actor, ref: str) -> VersionView:
    """Release the dataset's draft (owners): frozen, with its manifest, and validated."""
    with ctx.db.write() as db:
        dataset = load_dataset(db, actor, ref, DatasetAction.EDIT)
        db.execute(select(Dataset.id).where(Dataset.id == dataset.id).with_for_update())
        draft = the_draft(db, dataset)
        _none_validating(db, dataset)
        metadata.check(ctx.settings, draft.meta, release=True)
        sessions = member_sessions(draft.id)
        _all_readable(db, actor, sessions)
        if not ctx.db.is_sqlite:
            db.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        db.execute(
            insert(DatasetFile).from_select(
                [
                    "version_id",
                    "file_id",
                    "path",
                    "size",
                    "md5",
                    "sha256",
                    "project_id",
                    "subject_id",
                    "session_id",
                    "scan_id",
                ],
                manifest_rows(draft.id, sessions, sqlite=ctx.db.is_sqlite),
            )
        )
        digest, count, size = checksum(db, draft.id)
        if not count:
            raise Invalid(
                f"Dataset '{dataset.name}' holds no files: add subjects or sessions that have "
                "files before releasing it.",
                field="members",
            )
        draft.file_count, draft.byte_count, draft.manifest_sha256 = count, size, digest
        draft.state = VersionState.RELEASED
        draft.released_at = draft.updated_at = utcnow()
        validation.start(db, draft)
        details = {
            "files": draft.file_count,
            "bytes": draft.byte_count,
            "manifest_sha256": draft.manifest_sha256,
        }
        record(db, actor, dataset, draft, "released", details=details)
        view = version_view(db, actor, dataset, draft)
        released_id = draft.id
    validation.announce(ctx, released_id)
    return view


def _none_validating(db: DBSession, dataset: Dataset) -> None:
    running = db.scalar(
        select(DatasetVersion.number).where(
            DatasetVersion.dataset_id == dataset.id,
            DatasetVersion.validation == ValidationState.PENDING,
        )
    )
    if running is not None:
        raise Conflict(
            f"Version {running} of '{dataset.name}' is being validated; release again once "
            "its validation has finished.",
            field="version",
        )


def member_sessions(version_id: int) -> Select[Any]:
    """The ids of the sessions a version holds: those named, and the named subjects'."""
    named = select(DatasetMember.session_id).where(
        DatasetMember.version_id == version_id, DatasetMember.session_id.is_not(None)
    )
    of_subjects = (
        select(Session.id)
        .join(DatasetMember, DatasetMember.subject_id == Session.subject_id)
        .where(DatasetMember.version_id == version_id)
    )
    return select(union(named, of_subjects).subquery().c[0])


def _all_readable(db: DBSession, actor: Actor, sessions: Select[Any]) -> None:
    """Refuse when the releasing owner may not read every session (a co-owner added
    them): the count alone is said, nothing about them."""
    hidden = db.scalar(
        select(func.count(Session.id))
        .join(Project, Project.id == Session.project_id)
        .where(Session.id.in_(sessions), not_(permission_clause(actor, Level.READ)))
    )
    if hidden:
        raise Forbidden(
            f"{hidden} of the dataset's sessions are in projects you may not read; an owner "
            "who may read them releases it, or they are taken out first."
        )


def manifest_rows(version_id: int, sessions: Select[Any], *, sqlite: bool) -> Any:
    """The manifest's rows, as the INSERT ... SELECT writes them: in canonical order."""
    where = case(
        (Resource.scan_id.is_(None), literal("resources/")),
        else_=literal("scans/") + Scan.label + literal("/"),
    )
    path = (
        Project.label
        + literal("/")
        + Subject.label
        + literal("/")
        + Session.label
        + literal("/")
        + where
        + Resource.label
        + literal("/")
        + File.path
    )
    return (
        select(
            literal(version_id),
            File.id,
            path,
            File.size,
            File.md5,
            File.sha256,
            Session.project_id,
            Session.subject_id,
            Session.id,
            Resource.scan_id,
        )
        .select_from(File)
        .join(Resource, Resource.id == File.resource_id)
        .join(Session, Session.id == Resource.session_id)
        .join(Subject, Subject.id == Session.subject_id)
        .join(Project, Project.id == Session.project_id)
        .outerjoin(Scan, Scan.id == Resource.scan_id)
        .where(Resource.session_id.in_(sessions))
        .order_by(collate(path, "BINARY" if sqlite else "C"))
    )


def manifest_lines(db: DBSession, version_id: int) -> Iterator[bytes]:
    """The manifest's ``sha256sum`` lines, in canonical order, a batch at a time."""
    for batch in batches(db, version_id, DatasetFile.sha256, DatasetFile.path):
        yield "".join(f"{sha}  {path}\n" for sha, path in batch).encode()


def checksum(db: DBSession, version_id: int) -> tuple[str, int, int]:
    """The manifest's SHA-256 (of its canonical form), its files and their bytes."""
    digest, count, size = hashlib.sha256(), 0, 0
    for batch in batches(db, version_id, DatasetFile.sha256, DatasetFile.path, DatasetFile.size):
        digest.update("".join(f"{sha}  {path}\n" for sha, path, _s in batch).encode())
        count += len(batch)
        size += sum(s for _sha, _p, s in batch)
    return digest.hexdigest(), count, size


def batches(db: DBSession, version_id: int, *columns: Any) -> Iterator[Sequence[Any]]:
    """The manifest's rows in canonical order: by id, given in that order at release."""
    result = db.execute(
        select(*columns).where(DatasetFile.version_id == version_id).order_by(DatasetFile.id),
        execution_options={"yield_per": HASH_BATCH},
    )
    yield from result.partitions()
