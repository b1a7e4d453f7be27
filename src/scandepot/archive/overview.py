"""A session at a glance: its scans with their files, sizes, formats and acquisition
details, and the session's own resources, in a handful of queries.

The acquisition details come from the catalog (the instance rows and the series and
study attributes kept there), never from re-reading files, so that a session page with
hundreds of series stays fast.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pydicom.uid import UID
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.access import permissions
from scandepot.access.actors import Actor
from scandepot.access.permissions import Action, Level
from scandepot.archive import resources, sessions
from scandepot.archive.resources import ResourceView
from scandepot.catalog.archive import File, Resource, Scan, Session
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context

SNAPSHOTS = "SNAPSHOTS"  # the resource the snapshots pipeline writes its PNGs into


@dataclass(frozen=True, slots=True)
class Acquisition:
    """What the catalog holds about a scan's DICOM instances."""

    instances: int = 0
    frames: int | None = None  # (0028,0008) Number of Frames, summed
    first_instance: int | None = None  # (0020,0013) Instance Number
    last_instance: int | None = None
    sop_classes: tuple[str, ...] = ()  # (0008,0016), by name where the UID is known
    transfer_syntaxes: tuple[str, ...] = ()  # (0002,0010)


@dataclass(frozen=True, slots=True)
class ScanSummary:
    scan: Scan
    files: int
    size: int
    resources: list[ResourceView]
    acquisition: Acquisition
    snapshot: str | None  # the first PNG of the scan's SNAPSHOTS resource

    @property
    def has_picture(self) -> bool:
        return self.snapshot is not None or self.acquisition.instances > 0


@dataclass(frozen=True, slots=True)
class SessionOverview:
    session: Session
    level: Level
    scans: list[ScanSummary]
    resources: list[ResourceView]  # hanging from the session itself
    files: int = 0
    size: int = 0
    formats: list[str] = field(default_factory=list)  # resource labels present anywhere


def _uid_name(value: str) -> str:
    name = UID(value).name
    return name if name and name != value else value


def session_overview(ctx: Context, actor: Actor, project: str, label: str) -> SessionOverview:
    with ctx.db.read() as db:
        session = sessions.load(db, actor, project, label, Action.READ)
        level = permissions.level_on(db, actor, session.project)
        if session.shared_label is not None:  # shared into the project: read-only there
            level = Level.READ
        scan_rows = list(
            db.scalars(
                select(Scan)
                .where(Scan.session_id == session.id)
                .order_by(Scan.SeriesNumber, Scan.label)
            )
        )
        found = resources.views(db, Resource.session_id == session.id)
        acquisitions = _acquisitions(db, [s.id for s in scan_rows])
        snapshot = _snapshots(db, session.id)
    own, by_scan = _by_owner(found)
    summaries = [
        ScanSummary(
            scan=s,
            files=sum(r.file_count for r in by_scan[s.id]),
            size=sum(r.size for r in by_scan[s.id]),
            resources=by_scan[s.id],
            acquisition=acquisitions.get(s.id, Acquisition()),
            snapshot=snapshot.get(s.id),
        )
        for s in scan_rows
    ]
    every = own + [r for views in by_scan.values() for r in views]
    return SessionOverview(
        session=session,
        level=level,
        scans=summaries,
        resources=own,
        files=sum(r.file_count for r in every),
        size=sum(r.size for r in every),
        formats=sorted({r.resource.label for r in every}),
    )


def _acquisitions(db: DBSession, scan_ids: list[int]) -> dict[int, Acquisition]:
    """What the instance rows of each scan add up to; scans without any are left out."""
    counts = db.execute(
        select(
            Instance.scan_id,
            func.count(Instance.id),
            func.sum(Instance.NumberOfFrames),
            func.min(Instance.InstanceNumber),
            func.max(Instance.InstanceNumber),
        )
        .where(Instance.scan_id.in_(scan_ids))
        .group_by(Instance.scan_id)
    ).all()
    kinds = db.execute(
        select(Instance.scan_id, Instance.SOPClassUID, Instance.TransferSyntaxUID)
        .where(Instance.scan_id.in_(scan_ids))
        .distinct()
    ).all()
    classes: dict[int, set[str]] = defaultdict(set)
    syntaxes: dict[int, set[str]] = defaultdict(set)
    for scan_id, sop_class, syntax in kinds:
        if scan_id is None:
            continue
        classes[scan_id].add(_uid_name(sop_class))
        syntaxes[scan_id].add(_uid_name(syntax))
    return {
        scan_id: Acquisition(
            instances=int(n),
            frames=int(frames) if frames is not None else None,
            first_instance=first,
            last_instance=last,
            sop_classes=tuple(sorted(classes[scan_id])),
            transfer_syntaxes=tuple(sorted(syntaxes[scan_id])),
        )
        for scan_id, n, frames, first, last in counts
        if scan_id is not None
    }


def _snapshots(db: DBSession, session_id: int) -> dict[int, str]:
    """Scan ID -> the first PNG of the scan's SNAPSHOTS resource, for scans with one."""
    pictures = db.execute(
        select(Resource.scan_id, func.min(File.path))
        .join(File, File.resource_id == Resource.id)
        .where(
            Resource.session_id == session_id,
            Resource.label == SNAPSHOTS,
            Resource.scan_id.is_not(None),
            File.path.like("%.png"),
        )
        .group_by(Resource.scan_id)
    ).all()
    return {scan_id: path for scan_id, path in pictures if scan_id is not None}


def _by_owner(
    found: list[ResourceView],
) -> tuple[list[ResourceView], defaultdict[int, list[ResourceView]]]:
    """The session's own resources, and those of each scan by scan ID."""
    by_scan: defaultdict[int, list[ResourceView]] = defaultdict(list)
    own: list[ResourceView] = []
    for view in found:
        if view.resource.scan_id is None:
            own.append(view)
        else:
            by_scan[view.resource.scan_id].append(view)
    return own, by_scan
