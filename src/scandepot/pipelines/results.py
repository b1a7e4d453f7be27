"""What the pipelines left on a session, for people to read: the quality metrics of each
scan (the ``*_qa.json`` reports in the scans' QA resources)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from scandepot.access.actors import Actor
from scandepot.access.permissions import Action
from scandepot.archive import sessions
from scandepot.archive.layout import Owner
from scandepot.catalog.archive import File, Resource, Scan
from scandepot.context import Context
from scandepot.pipelines.qa import QA


@dataclass(frozen=True, slots=True)
class QaReport:
    image: str
    kind: str
    metrics: dict[str, float | int | None]  # scalar metrics only, by name


def qa_metrics(ctx: Context, actor: Actor, project: str, session: str) -> dict[str, list[QaReport]]:
    """Scan label -> the QA reports of its images; scans without any are left out."""
    with ctx.db.read() as db:
        found = sessions.load(db, actor, project, session, Action.READ)
        rows = db.execute(
            select(Scan, File.path)
            .join(Resource, Resource.scan_id == Scan.id)
            .join(File, File.resource_id == Resource.id)
            .where(
                Scan.session_id == found.id,
                Resource.label == QA,
                File.path.like("%_qa.json"),
            )
            .order_by(Scan.SeriesNumber, Scan.label, File.path)
        ).all()
        paths = [
            (
                scan.label,
                ctx.archive_path(
                    Owner(found.project, found.subject, found, scan).resource_files_dir(QA) / path
                ),
            )
            for scan, path in rows
        ]
    reports: dict[str, list[QaReport]] = defaultdict(list)
    for label, path in paths:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a report that cannot be read is shown as missing, not as an error
        metrics = {
            k: v
            for k, v in (data.get("metrics") or {}).items()
            if v is None or isinstance(v, int | float)
        }
        reports[label].append(
            QaReport(str(data.get("image", path.name)), str(data.get("kind", "")), metrics)
        )
    return dict(reports)
