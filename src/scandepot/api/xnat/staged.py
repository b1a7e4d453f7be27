"""Staged sessions as XNAT shows prearchive entries: their ResultSet rows, their scans,
and the URIs the import and archive services answer with.

The columns are XNAT 1.8's (``PrearcDatabase``), in its order; xnatpy's and pyxnat's
prearchive classes read them by name. ``timestamp`` and ``folderName`` are scandepot's
stable name of a staged session (:mod:`scandepot.prearchive.names`): the time its first
file arrived, to the millisecond, and its number.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from scandepot.access.actors import Actor
from scandepot.api.xnat.results import Table
from scandepot.context import Context
from scandepot.prearchive import names, operations
from scandepot.prearchive.operations import StagedView

DATA = "/data"
COLUMNS = (
    "project",
    "timestamp",
    "lastmod",
    "uploaded",
    "scan_date",
    "scan_time",
    "subject",
    "folderName",
    "name",
    "tag",
    "status",
    "url",
    "autoarchive",
    "prevent_anon",
    "prevent_auto_commit",
    "SOURCE",
    "VISIT",
    "PROTOCOL",
    "TIMEZONE",
)
SCAN_COLUMNS = (
    "ID",
    "xsiType",
    "type",
    "series_description",
    "SeriesNumber",
    "Modality",
    "SeriesInstanceUID",
    "file_count",
    "file_size",
    "URI",
)


def archived_uri(project: str, subject: str, session: str) -> str:
    """The archived session's URI as XNAT's archive answers it."""
    return f"{DATA}/archive/projects/{project}/subjects/{subject}/experiments/{session}"


def staged_uri(ctx: Context, actor: Actor, staged_id: int) -> str:
    return DATA + names.of(operations.get(ctx, actor, staged_id).staged).path


def _moment(value: dt.datetime) -> str:
    """XNAT's timestamps in listings (``2021-12-29 10:11:28.996``), in UTC."""
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def row(view: StagedView) -> dict[str, str]:
    s = view.staged
    name = names.of(s)
    return {
        "project": name.project,
        "timestamp": name.timestamp,
        "lastmod": _moment(s.updated_at),
        "uploaded": _moment(s.created_at),
        "scan_date": s.StudyDate.isoformat() if s.StudyDate else "",
        "scan_time": s.StudyTime.isoformat() if s.StudyTime else "",
        "subject": s.subject or "",
        "folderName": name.folder,
        "name": s.session or "",
        "tag": s.StudyInstanceUID,
        "status": s.status,
        "url": name.path,
        "autoarchive": "AutoArchive" if view.autoarchive else "Manual",
        "prevent_anon": "false",
        "prevent_auto_commit": "true" if s.hold else "false",
        "SOURCE": s.source or "",
        "VISIT": "",
        "PROTOCOL": "",
        "TIMEZONE": s.TimezoneOffsetFromUTC or "",
    }


def table(views: list[StagedView]) -> Table:
    return Table.of(COLUMNS, [row(v) for v in views], title="Prearchive sessions")


def _scan_row(entry: str, scan: dict[str, Any]) -> dict[str, Any]:
    modality = (scan.get("Modality") or "").lower()
    return {
        "ID": scan["id"],
        "xsiType": f"xnat:{modality}ScanData" if modality else "xnat:otherDicomScanData",
        "type": scan.get("SeriesDescription"),
        "series_description": scan.get("SeriesDescription"),
        "SeriesNumber": scan.get("SeriesNumber"),
        "Modality": scan.get("Modality"),
        "SeriesInstanceUID": scan.get("SeriesInstanceUID"),
        "file_count": scan.get("files"),
        "file_size": scan.get("size"),
        "URI": f"{entry}/scans/{scan['id']}",
    }


def scans_table(view: StagedView) -> Table:
    """The scans the session's last build found (none before its first build)."""
    entry = DATA + names.of(view.staged).path
    found = [_scan_row(entry, s) for s in view.staged.scans if not s.get("excluded")]
    return Table.of(SCAN_COLUMNS, found, title="Scans")
