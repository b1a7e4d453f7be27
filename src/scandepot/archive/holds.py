"""Files a released dataset holds: the archive does not delete them or change their bytes.

A released version is frozen (docs/datasets.md): its manifest names archive files by
checksum, and its readers download those very files. So every way the archive deletes
or replaces files (a file, resource, scan, session, subject or project deleted; an upload
or an archive with overwrite; pipeline outputs published again; the source of a move)
asks :func:`refuse_held` first, in its own transaction, before anything changes, with
the files it is about to delete or replace. Relabels, moves of folders and merges that
add files change no held file and are not asked. A version that is withdrawn lets go of
its files (``dataset_file.file_id`` NULL); the foreign key (``ON DELETE RESTRICT``) is
the backstop should a path forget to ask.

The refusal (409) names each dataset and version the actor may view, and says only
"a released dataset" of the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access.actors import Actor
from scandepot.access.datasets import DatasetAction, may
from scandepot.catalog.archive import File, Resource, Session
from scandepot.catalog.datasets import Dataset, DatasetFile, DatasetVersion
from scandepot.errors import Conflict

SHOWN = 5  # datasets named in one refusal


def files(ids: Iterable[int]) -> Select[Any]:
    return select(File.id).where(File.id.in_(list(ids)))


def of_resource(resource_id: int) -> Select[Any]:
    return select(File.id).where(File.resource_id == resource_id)


def of_scan(scan_id: int) -> Select[Any]:
    return (
        select(File.id)
        .join(Resource, Resource.id == File.resource_id)
        .where(Resource.scan_id == scan_id)
    )


def of_session(session_id: int) -> Select[Any]:
    return (
        select(File.id)
        .join(Resource, Resource.id == File.resource_id)
        .where(Resource.session_id == session_id)
    )


def of_subject(subject_id: int) -> Select[Any]:
    sessions = select(Session.id).where(Session.subject_id == subject_id)
    return (
        select(File.id)
        .join(Resource, Resource.id == File.resource_id)
        .where(or_(Resource.subject_id == subject_id, Resource.session_id.in_(sessions)))
    )


def of_project(project_id: int) -> Select[Any]:
    return (
        select(File.id)
        .join(Resource, Resource.id == File.resource_id)
        .where(Resource.project_id == project_id)
    )


def refuse_held(db: DBSession, actor: Actor, chosen: Select[Any], *, doing: str) -> None:
    """Conflict (409) when a released, not withdrawn, version holds one of ``chosen``
    (the files about to be deleted or replaced); ``doing`` says what was asked."""
    why = held(db, actor, chosen, doing=doing)
    if why is not None:
        raise Conflict(why, field="dataset")


def held(db: DBSession, actor: Actor, chosen: Select[Any], *, doing: str) -> str | None:
    """Why ``doing`` is refused, when a released version holds one of ``chosen``."""
    rows = db.execute(
        select(DatasetFile.version_id, func.count(DatasetFile.id))
        .where(DatasetFile.file_id.in_(chosen))
        .group_by(DatasetFile.version_id)
        .order_by(DatasetFile.version_id)
    ).all()
    if not rows:
        return None
    total = sum(int(count) for _v, count in rows)
    named: list[str] = []
    hidden = 0
    for version_id, _count in rows:
        version = db.get(DatasetVersion, version_id)
        dataset = db.get(Dataset, version.dataset_id) if version is not None else None
        if version is None or dataset is None:
            continue
        if may(db, actor, DatasetAction.VIEW, dataset, version):
            named.append(f"dataset {dataset.name} ({dataset.stable_id}) version {version.number}")
        else:
            hidden += 1
    if hidden:
        named.append(f"{hidden} released dataset version(s) you may not view")
    shown = "; ".join(named[:SHOWN]) + (" ..." if len(named) > SHOWN else "")
    return (
        f"Cannot {doing}: {total} of its files are held by {shown}. A released version is "
        "frozen; its owners withdraw it to let its files go."
    )
