"""Published datasets for the catalogue's tests, made by writing the rows a release and
a publication write: the manifest (one DatasetFile per archived file of the chosen
sessions, path and ids as at release), then the aggregates computed as publication
computes them. The lifecycle's own tests go through release and publish."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from scandepot.catalog import ids
from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.datasets import (
    Dataset,
    DatasetFile,
    DatasetOwner,
    DatasetVersion,
    VersionState,
)
from scandepot.context import Context
from scandepot.datasets import aggregates, search_terms

META = {
    "title": "Brain development cohort",
    "description": "Structural MRI of a developing brain cohort, de-identified.",
    "authors": ["Ada Lovelace", {"name": "Grace Hopper"}],
    "contact": {"name": "Data desk", "email": "data@example.org"},
    "licence": "https://creativecommons.org/licenses/by/4.0/",
    "keywords": ["neurodevelopment", "MRI"],
    "body_parts": ["brain"],
    "conditions": ["healthy"],
    "provenance": "Acquired at the imaging centre, de-identified on archiving.",
    "funding": "A research council grant",
}


def manifest_rows(ctx: Context, sessions: Sequence[int]) -> list[dict[str, Any]]:
    """Every file of ``sessions`` (session- and scan-level resources) as a release lists
    it: its path by labels, its checksums, the ids it hangs from."""
    with ctx.db.read() as db:
        rows = db.execute(
            select(
                File.id,
                File.path,
                File.size,
                File.md5,
                File.sha256,
                Resource.label,
                Resource.scan_id,
                Session.id,
                Session.label,
                Subject.id,
                Subject.label,
                Project.id,
                Project.label,
                Scan.label,
            )
            .join(Resource, Resource.id == File.resource_id)
            .join(Session, Session.id == Resource.session_id)
            .join(Subject, Subject.id == Session.subject_id)
            .join(Project, Project.id == Session.project_id)
            .outerjoin(Scan, Scan.id == Resource.scan_id)
            .where(Session.id.in_(sessions))
        ).all()
    made = []
    for (
        fid,
        path,
        size,
        md5,
        sha,
        res,
        scan_id,
        eid,
        elabel,
        sid,
        slabel,
        pid,
        plabel,
        scan,
    ) in rows:
        where = f"scans/{scan}/{res}" if scan is not None else res
        made.append(
            {
                "file_id": fid,
                "path": f"{plabel}/{slabel}/{elabel}/{where}/{path}",
                "size": size,
                "md5": md5,
                "sha256": sha,
                "project_id": pid,
                "subject_id": sid,
                "session_id": eid,
                "scan_id": scan_id,
            }
        )
    return made


def publish(
    ctx: Context,
    sessions: Sequence[int],
    *,
    name: str = "brain-dev",
    meta: dict[str, Any] | None = None,
    owner_id: int | None = None,
    suppress_below: int = 5,
    dataset_id: int | None = None,
    state: str = VersionState.PUBLISHED,
) -> tuple[str, int]:
    """A released version of ``sessions`` in state ``state`` (published by default, with
    its aggregates), of a new dataset ``name`` or of ``dataset_id``; (its ID, number)."""
    files = manifest_rows(ctx, sessions)
    now = dt.datetime.now(dt.UTC)
    with ctx.db.write() as db:
        if dataset_id is None:
            dataset = Dataset(
                stable_id=ids.next_stable_id(db, "dataset", ctx.settings.site_id),
                name=name,
                created_by="owner",
            )
            db.add(dataset)
            db.flush()
            if owner_id is not None:
                db.add(DatasetOwner(dataset_id=dataset.id, user_id=owner_id))
        else:
            found = db.get(Dataset, dataset_id)
            assert found is not None
            dataset = found
        number = 1 + len(
            db.scalars(
                select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset.id)
            ).all()
        )
        version = DatasetVersion(
            dataset_id=dataset.id,
            number=number,
            state=VersionState.RELEASED,
            meta=dict(meta if meta is not None else META),
            created_by="owner",
            file_count=len(files),
            byte_count=sum(f["size"] for f in files),
            manifest_sha256="0" * 64,
            validation="passed",
            released_at=now,
        )
        db.add(version)
        db.flush()
        db.execute(DatasetFile.__table__.insert(), [{**f, "version_id": version.id} for f in files])
        if state != VersionState.RELEASED:
            if state in (VersionState.PUBLISHED, VersionState.WITHDRAWN):
                version.aggregates = aggregates.compute(db, version, suppress_below=suppress_below)
                version.published_at = now
            version.state = state
        return dataset.stable_id, number


def session_ids(ctx: Context, project: str) -> list[int]:
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(Session.id)
                .join(Project, Project.id == Session.project_id)
                .where(Project.label == project)
                .order_by(Session.id)
            )
        )


def listed(
    ctx: Context,
    name: str,
    *,
    title: str,
    states: Sequence[str] = (VersionState.PUBLISHED,),
    keywords: Sequence[str] = (),
    modalities: Sequence[str] = ("MR",),
    body_parts: Sequence[str] = ("BRAIN",),
    subjects: int = 20,
    published_at: dt.datetime | None = None,
) -> str:
    """A dataset with one version per state of ``states`` (version 1 first), of no files
    but figures as given, for the catalogue's listing and search; its ID."""
    when = published_at or dt.datetime.now(dt.UTC)
    meta = {"title": title, "description": f"About {title}.", "keywords": list(keywords)}
    figures: dict[str, Any] = {
        "format": aggregates.FORMAT,
        "suppress_below": 5,
        "counts": {"subjects": subjects, "sessions": subjects, "series": subjects, "instances": 0},
        "modalities": _counted(modalities, subjects),
        "body_parts": _counted(body_parts, subjects),
        "manufacturers": _counted((), subjects),
        "field_strengths": _counted((), subjects),
        "sex": {"withheld": False, "bins": []},
        "age": {"withheld": False, "bins": []},
        "clinical": [],
    }
    figures[search_terms.KEY] = search_terms.build(meta, figures)
    with ctx.db.write() as db:
        dataset = Dataset(
            stable_id=ids.next_stable_id(db, "dataset", ctx.settings.site_id),
            name=name,
            created_by="owner",
        )
        db.add(dataset)
        db.flush()
        for number, state in enumerate(states, start=1):
            public = state in (VersionState.PUBLISHED, VersionState.WITHDRAWN)
            db.add(
                DatasetVersion(
                    dataset_id=dataset.id,
                    number=number,
                    state=state,
                    meta=meta,
                    created_by="owner",
                    aggregates=figures if public else None,
                    published_at=when if public else None,
                )
            )
        return dataset.stable_id


def _counted(values: Sequence[str], subjects: int) -> dict[str, Any]:
    bins = [{"value": v, "subjects": subjects} for v in values]
    return {"withheld": False, "values": list(values), "bins": bins}
