"""The prearchive and the unassigned studies: staged sessions not archived.

An item is one staged session, keyed ``<id>:<StudyInstanceUID>`` (an ID alone could be
handed out again by SQLite after the newest row is deleted). Its time begins when it was
scanned: the study's date and time (with its own offset from UTC when it carries one,
else in the site's time zone), or when it was first received if it names no date. A
session being built or archived is never removed, nor one still receiving (an instance
in the last five minutes, or the prearchive's quiet time if longer); one whose study
changed since it was planned is left for the next run. Its instances' files are set
aside with its folder; an instance already archived belongs to the archive and is not in
its folder any more.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session as DBSession

from scandepot.catalog.prearchive import UNASSIGNED, Instance, StagedSession, Status
from scandepot.context import Context
from scandepot.db.base import utcnow
from scandepot.prearchive import settle
from scandepot.retention.areas import TITLES, AreaName, Item
from scandepot.storage import spool
from scandepot.storage.changes import Changes

RECEIVING_S = 300  # a staged session that received an instance this recently is receiving


class StagedArea:
    """Staged sessions of projects (``unassigned=False``) or of none."""

    def __init__(self, *, unassigned: bool) -> None:
        self.unassigned = unassigned
        self.name = AreaName.UNASSIGNED if unassigned else AreaName.PREARCHIVE
        self.title = TITLES[self.name]

    def _mine(self) -> ColumnElement[bool]:
        key = StagedSession.project_key
        return key == UNASSIGNED if self.unassigned else key != UNASSIGNED

    def items(self, ctx: Context) -> list[Item]:
        zone = ZoneInfo(ctx.settings.site_timezone)
        sizes = (
            select(Instance.staged_id, func.coalesce(func.sum(Instance.size), 0).label("size"))
            .where(Instance.staged_id.is_not(None))
            .group_by(Instance.staged_id)
            .subquery()
        )
        with ctx.db.read() as db:
            rows = db.execute(
                select(StagedSession, sizes.c.size)
                .outerjoin(sizes, sizes.c.staged_id == StagedSession.id)
                .where(self._mine())
                .order_by(StagedSession.id)
            ).all()
            return [self._item(staged, int(size or 0), zone) for staged, size in rows]

    def _item(self, staged: StagedSession, size: int, zone: ZoneInfo) -> Item:
        project = None if staged.project_key == UNASSIGNED else staged.project_key
        labels = "/".join(x for x in (staged.subject, staged.session) if x) or "no labels"
        where = project or "unassigned"
        return Item(
            area=self.name,
            key=key_of(staged),
            description=f"staged session {staged.id} in {where}: {labels}, study "
            f"{staged.StudyInstanceUID}",
            project=project,
            eligible_at=scanned_at(staged, zone),
            size=size,
            scanner=scanner_of(staged),
            people=uploader_of(staged),
        )

    def remove(self, ctx: Context, db: DBSession, changes: Changes, item: Item) -> bool:
        staged_id = int(item.key.split(":", 1)[0])
        staged = db.get(StagedSession, staged_id, with_for_update=not ctx.db.is_sqlite)
        if staged is None or key_of(staged) != item.key:
            return False
        if staged.status in settle.BUSY or (staged.project_key == UNASSIGNED) != self.unassigned:
            return False
        if _receiving(ctx, staged):
            return False
        if scanned_at(staged, ZoneInfo(ctx.settings.site_timezone)) != item.eligible_at:
            return False
        changes.set_aside(spool.folder(ctx.store, staged.id))
        db.delete(staged)
        db.flush()
        return True


def _receiving(ctx: Context, staged: StagedSession) -> bool:
    """Instances still arriving (in real time, whatever the run's clock says): a study
    sent long after it was scanned is not deleted under its sender."""
    quiet = dt.timedelta(seconds=max(ctx.settings.prearchive_quiet_s, RECEIVING_S))
    return staged.status == Status.RECEIVING and utcnow() - staged.last_received_at < quiet


def key_of(staged: StagedSession) -> str:
    return f"{staged.id}:{staged.StudyInstanceUID}"


def scanned_at(staged: StagedSession, zone: ZoneInfo) -> dt.datetime:
    """When the study was scanned, in UTC; when it was first received if it says not."""
    if staged.StudyDate is None:
        return staged.created_at
    moment = dt.datetime.combine(staged.StudyDate, staged.StudyTime or dt.time())
    offset = _offset(staged.TimezoneOffsetFromUTC)
    tz: dt.tzinfo = zone if offset is None else dt.timezone(offset)
    return moment.replace(tzinfo=tz).astimezone(dt.UTC)


def _offset(value: str | None) -> dt.timedelta | None:
    """A Timezone Offset From UTC (``&ZZXX``, PS3.3 C.12.1.1.8) as a timedelta."""
    if not value or len(value) != 5 or value[0] not in "+-" or not value[1:].isdigit():
        return None
    sign = -1 if value[0] == "-" else 1
    return sign * dt.timedelta(hours=int(value[1:3]), minutes=int(value[3:5]))


def scanner_of(staged: StagedSession) -> str | None:
    """The AE title that sent it (``dicom:<AE>``), else its Station Name."""
    source = staged.source or ""
    if source.startswith("dicom:") and len(source) > len("dicom:"):
        return source.split(":", 1)[1]
    return staged.StationName


def uploader_of(staged: StagedSession) -> tuple[str, ...]:
    """The account that uploaded it (``upload:<login>``, ``stow:<login>``), if one did."""
    kind, _, who = (staged.source or "").partition(":")
    return (who,) if kind in {"upload", "stow", "import"} and who else ()
