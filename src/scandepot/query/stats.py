"""What a search counts: the series and instances of studies and series, and a study's
modalities, for the page of results only (never over the whole catalog).

Counted from the catalog as it is, through the indexes on ``scan.session_id`` and
``dicom_instance.scan_id``: a study of one copy is counted by its scans' index entries
alone. A study or series the caller may read in several projects is counted over the
union of those copies, each series and instance UID once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, distinct, exists, func, select
from sqlalchemy.orm import Session as DBSession
from sqlalchemy.orm import aliased

from scandepot.catalog.archive import Project, Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.query.scope import Scope


@dataclass
class StudyStats:
    modalities: list[str] = field(default_factory=list)
    series: int = 0
    instances: int = 0


# An instance with a scan is archived: the archiver sets its scan and its file in one
# transaction, and deleting the file deletes the instance. These conditions need only the
# indexes on scan.session_id and dicom_instance.scan_id.


# Made once: making ORM aliases costs more than running the conditions they are in.
_SCAN, _INSTANCE = aliased(Scan, name="held_scan"), aliased(Instance, name="held_instance")
_SCAN_INSTANCE = aliased(Instance, name="scan_instance")
_COUNTED = aliased(Instance, name="counted_instance")


def has_instances() -> ColumnElement[bool]:
    """A session holds an archived DICOM instance (the correlated condition)."""
    return exists(
        select(_INSTANCE.id)
        .join(_SCAN, _SCAN.id == _INSTANCE.scan_id)
        .where(_SCAN.session_id == Session.id)
    )


def scan_has_instances() -> ColumnElement[bool]:
    return exists(select(_SCAN_INSTANCE.id).where(_SCAN_INSTANCE.scan_id == Scan.id))


def _copies(db: DBSession, scope: Scope, uids: list[str]) -> dict[str, list[int]]:
    """The readable sessions holding archived instances of each study UID."""
    rows = db.execute(
        select(Session.StudyInstanceUID, Session.id)
        .join(Project, Project.id == Session.project_id)
        .where(scope.projects(), Session.StudyInstanceUID.in_(uids), has_instances())
    ).all()
    found: dict[str, list[int]] = defaultdict(list)
    for uid, session_id in rows:
        found[str(uid)].append(session_id)
    return found


def studies(db: DBSession, scope: Scope, uids: list[str]) -> dict[str, StudyStats]:
    """Modalities, series and instances of each study in ``uids``."""
    copies = _copies(db, scope, uids)
    stats = {uid: StudyStats() for uid in copies}
    every = [session_id for ids in copies.values() for session_id in ids]
    if not every:
        return stats
    owner = {session_id: uid for uid, ids in copies.items() for session_id in ids}
    modalities = db.execute(
        select(Scan.session_id, Scan.Modality)
        .where(Scan.session_id.in_(every), Scan.Modality.is_not(None), scan_has_instances())
        .distinct()
    ).all()
    for session_id, modality in modalities:
        found = stats[owner[session_id]].modalities
        if modality is not None and modality not in found:
            found.append(modality)
    for item in stats.values():
        item.modalities.sort()
    single = [ids[0] for ids in copies.values() if len(ids) == 1]
    for session_id, series, instances in _single_counts(db, single):
        stats[owner[session_id]].series, stats[owner[session_id]].instances = series, instances
    several = [i for ids in copies.values() if len(ids) > 1 for i in ids]
    for uid, series, instances in _union_counts(db, several):
        stats[uid].series, stats[uid].instances = series, instances
    return stats


def _single_counts(db: DBSession, session_ids: list[int]) -> list[tuple[int, int, int]]:
    """Series (scans holding an instance) and instances of each session: its scans
    through the index on scan.session_id, each scan's instances counted on the index on
    dicom_instance.scan_id alone (a join of the two had PostgreSQL read every scan of the
    site to hash them)."""
    if not session_ids:
        return []
    instances = select(func.count()).where(_COUNTED.scan_id == Scan.id).scalar_subquery()
    rows = db.execute(
        select(Scan.session_id, func.count(), func.sum(instances))
        .where(Scan.session_id.in_(session_ids), scan_has_instances())
        .group_by(Scan.session_id)
    ).all()
    return [(int(session_id), int(series), int(held)) for session_id, series, held in rows]


def _union_counts(db: DBSession, session_ids: list[int]) -> list[tuple[str, int, int]]:
    if not session_ids:
        return []
    rows = db.execute(
        select(
            Session.StudyInstanceUID,
            func.count(distinct(Instance.SeriesInstanceUID)),
            func.count(distinct(Instance.SOPInstanceUID)),
        )
        .join(Scan, Scan.session_id == Session.id)
        .join(Instance, Instance.scan_id == Scan.id)
        .where(Session.id.in_(session_ids))
        .group_by(Session.StudyInstanceUID)
    ).all()
    return [(str(uid), int(series), int(instances)) for uid, series, instances in rows]


def series(
    db: DBSession, scope: Scope, uids: list[str], study: str | None = None
) -> dict[str, int]:
    """The number of instances of each series in ``uids`` (of ``study``, if given)."""
    query = (
        select(Scan.SeriesInstanceUID, Scan.id)
        .join(Session, Session.id == Scan.session_id)
        .join(Project, Project.id == Session.project_id)
        .where(scope.projects(), Scan.SeriesInstanceUID.in_(uids))
    )
    if study is not None:
        query = query.where(Session.StudyInstanceUID == study)
    copies: dict[str, list[int]] = defaultdict(list)
    for uid, scan_id in db.execute(query):
        copies[str(uid)].append(scan_id)
    counts = dict.fromkeys(copies, 0)
    owner = {ids[0]: uid for uid, ids in copies.items() if len(ids) == 1}
    for held_by, count in db.execute(
        select(Instance.scan_id, func.count())
        .where(Instance.scan_id.in_(list(owner)))
        .group_by(Instance.scan_id)
    ):
        if held_by is not None:
            counts[owner[held_by]] = count
    several = [i for ids in copies.values() if len(ids) > 1 for i in ids]
    if several:
        for uid, count in db.execute(
            select(Scan.SeriesInstanceUID, func.count(distinct(Instance.SOPInstanceUID)))
            .join(Instance, Instance.scan_id == Scan.id)
            .where(Scan.id.in_(several))
            .group_by(Scan.SeriesInstanceUID)
        ):
            counts[str(uid)] = count
    return counts
