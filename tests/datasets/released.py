"""Released versions of datasets for the tests of validation, access and downloads,
written as the release writes them: the catalog rows (Dataset, its owners, a version in
state released, its members, and its manifest: one DatasetFile per file of the chosen
sessions, as the archive holds them), over sessions archived as any upload is.

A study is archived through the project's archive script when the project has one
(:func:`archive_script`), so its instances are de-identified as the site makes them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import User
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.datasets import (
    Dataset,
    DatasetFile,
    DatasetMember,
    DatasetOwner,
    DatasetVersion,
    VersionState,
)
from scandepot.catalog.deid import ScriptKind
from scandepot.catalog.ids import next_stable_id
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.deid import manage
from scandepot.deid.manage import ScriptIn
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes

PROFILE = '{"options": []}'  # the basic profile, no option


def archive_script(ctx: Context, project: str) -> None:
    """The project's archive script: the basic profile (PS3.15 E.1)."""
    manage.save(ctx, SYSTEM, project, "archive", ScriptIn(kind=ScriptKind.PROFILE, text=PROFILE))


@dataclass(frozen=True)
class Archived:
    project: str
    subject: str
    session: str


def archive_study(
    ctx: Context,
    project: str,
    study: Study,
    *,
    series: int = 2,
    per_series: int = 2,
    **attributes: Any,
) -> Archived:
    """A study of ``series`` MR series received and archived into ``project``; each
    instance given ``attributes`` (DICOM keywords) beside the study's."""
    from scandepot.ingest.receive import Source, receive
    from scandepot.prearchive import operations

    for number in range(1, series + 1):
        about = Series(number, SeriesDescription=f"series {number}")
        for i in range(1, per_series + 1):
            with ctx.store.stage() as staged:
                ds = mr_instance(study, about, i, rows=8, columns=8)
                for keyword, value in attributes.items():
                    setattr(ds, keyword, value)
                staged.write(to_bytes(ds))
                receive(ctx, staged, Source("upload", project=project))
    with ctx.db.read() as db:
        held = db.scalar(
            select(StagedSession.id).where(StagedSession.StudyInstanceUID == study.StudyInstanceUID)
        )
    assert held is not None
    operations.archive(ctx, SYSTEM, held)
    with ctx.db.read() as db:
        found = db.execute(
            select(Session.label, Subject.label)
            .join(Subject, Session.subject_id == Subject.id)
            .join(Project, Session.project_id == Project.id)
            .where(Project.label == project)
            .order_by(Session.id.desc())
            .limit(1)
        ).one()
    return Archived(project, found[1], found[0])


@dataclass(frozen=True)
class Released:
    dataset: str  # its site-wide ID
    name: str
    number: int
    version_id: int


def _files(
    db: DBSession, session_ids: list[int]
) -> list[tuple[File, str, int, int | None, int | None, int | None]]:
    rows = db.execute(
        select(File, Resource, Project.label, Subject.label, Session.label, Scan.label)
        .join(Resource, File.resource_id == Resource.id)
        .join(Project, Resource.project_id == Project.id)
        .join(Subject, Resource.subject_id == Subject.id)
        .join(Session, Resource.session_id == Session.id)
        .outerjoin(Scan, Resource.scan_id == Scan.id)
        .where(Resource.session_id.in_(session_ids))
        .order_by(File.id)
    ).all()
    found = []
    for file, resource, project, subject, session, scan in rows:
        parts = [project, subject, session] + (["scans", scan] if scan else [])
        path = "/".join([*parts, resource.label, file.path])
        found.append(
            (
                file,
                path,
                resource.project_id,
                resource.subject_id,
                resource.session_id,
                resource.scan_id,
            )
        )
    return found


def release(
    ctx: Context,
    sessions: list[Archived],
    *,
    name: str = "brains",
    owners: tuple[str, ...] = ("owner",),
    state: VersionState = VersionState.RELEASED,
    subjects: tuple[Archived, ...] = (),
) -> Released:
    """Version 1 of a new dataset holding ``sessions`` (and ``subjects``, whole), released
    (or in ``state``), with its manifest; owned by ``owners`` (logins)."""
    with ctx.db.write() as db:
        dataset = Dataset(
            stable_id=next_stable_id(db, "dataset", ctx.settings.site_id),
            name=name,
            created_by=owners[0],
        )
        db.add(dataset)
        db.flush()
        for login in owners:
            user_id = db.scalar(select(User.id).where(User.login == login))
            db.add(DatasetOwner(dataset_id=dataset.id, user_id=user_id))
        now = utcnow()
        version = DatasetVersion(
            dataset_id=dataset.id,
            number=1,
            state=state.value,
            meta={"title": name.title()},
            created_by=owners[0],
            released_at=now,
            published_at=now if state is VersionState.PUBLISHED else None,
        )
        db.add(version)
        db.flush()
        session_ids = [_session_id(db, a) for a in sessions]
        subject_ids = [_subject_id(db, a) for a in subjects]
        db.add_all(DatasetMember(version_id=version.id, session_id=s) for s in session_ids)
        db.add_all(DatasetMember(version_id=version.id, subject_id=s) for s in subject_ids)
        every = session_ids + list(
            db.scalars(select(Session.id).where(Session.subject_id.in_(subject_ids)))
        )
        files = _files(db, every)
        for file, path, project_id, subject_id, session_id, scan_id in files:
            db.add(
                DatasetFile(
                    version_id=version.id,
                    file_id=file.id,
                    path=path,
                    size=file.size,
                    md5=file.md5,
                    sha256=file.sha256,
                    project_id=project_id,
                    subject_id=subject_id,
                    session_id=session_id,
                    scan_id=scan_id,
                )
            )
        listed = [{"path": p, "size": f.size, "sha256": f.sha256} for f, p, *_ in files]
        canonical = json.dumps(listed, sort_keys=True, separators=(",", ":")).encode()
        version.file_count = len(files)
        version.byte_count = sum(f.size for f, *_ in files)
        version.manifest_sha256 = hashlib.sha256(canonical).hexdigest()
        return Released(dataset.stable_id, name, 1, version.id)


def _session_id(db: DBSession, a: Archived) -> int:
    found = db.scalar(
        select(Session.id)
        .join(Project, Session.project_id == Project.id)
        .where(Project.label == a.project, Session.label == a.session)
    )
    assert found is not None
    return int(found)


def _subject_id(db: DBSession, a: Archived) -> int:
    found = db.scalar(
        select(Subject.id)
        .join(Project, Subject.project_id == Project.id)
        .where(Project.label == a.project, Subject.label == a.subject)
    )
    assert found is not None
    return int(found)


def run_jobs(ctx: Context, *, limit: int = 10) -> list[str]:
    """Claim and run the queued jobs in this process, as a worker does; how each ended."""
    from scandepot.datasets import validation
    from scandepot.pipelines import queue, runner

    ended = []
    for _ in range(limit):
        taken = queue.claim_next(ctx, "test", 1)
        if not taken:
            break
        job_id, token = taken[0]
        status = runner.execute(
            ctx,
            job_id,
            token,
            pipelines={validation.TASK: validation.run},
            dispatch=lambda _ids: None,
        )
        ended.append(status.value)
    return ended
