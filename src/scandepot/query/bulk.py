"""Many synthetic studies written straight into the catalog, for benchmarks of searches.

    from scandepot.query import bulk
    bulk.load(ctx, "BENCH", studies=10_000, series=4, instances=25)  # 1,000,000 instances

The project must exist. Each study gets a subject, a session, its scans, a DICOM resource
per scan, and a file and an archived instance row per instance, in batches of whole
studies (one transaction each), then the tables analyzed (PostgreSQL plans the searches
from a million rows it has not counted yet badly: 160 ms against 34 ms once analyzed, as
its autovacuum would in a minute or so). No file is written: searches find these studies, but
retrieving their instances fails. Patient names are ``{FAMILY}^{GIVEN}`` from small
lists (so ``PatientName=DOE*`` matches about one study in ten), dates spread over
2015-2024 (times to the millisecond, in one of a few time zones), each series MR, CT or
PT, started a few minutes after the one before it.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, text

from scandepot.catalog.archive import File, Project, Resource, Scan, Session, Subject
from scandepot.catalog.prearchive import Instance
from scandepot.context import Context
from scandepot.errors import NotFound

FAMILIES = ("DOE", "SMITH", "JONES", "BROWN", "MARTIN", "GARCIA", "MILLER", "WILSON", "LEE", "KIM")
GIVENS = ("JANE", "JOHN", "ANNA", "PAUL", "MARIA", "PETER")
MODALITIES = ("MR", "MR", "MR", "CT", "PT")
ZONES = ("+0000", "+0100", "+0200", "-0500")
ROOT = "1.2.826.0.1.3680043.8.498.7"  # pydicom's UID root, then ours
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _next_ids(conn: Connection) -> dict[str, int]:
    models = {"subject": Subject, "session": Session, "scan": Scan, "resource": Resource}
    models |= {"file": File, "instance": Instance}
    return {
        name: int(conn.scalar(select(func.coalesce(func.max(_table(model).c.id), 0))) or 0) + 1
        for name, model in models.items()
    }


def load(
    ctx: Context,
    project: str,
    *,
    studies: int,
    series: int = 4,
    instances: int = 25,
    seed: int = 0,
    batch: int = 100,
) -> None:
    """Add ``studies`` studies of ``series`` series of ``instances`` instances each."""
    rng = random.Random(seed)
    with ctx.db.read() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == project))
    if project_id is None:
        raise NotFound(f"Project '{project}' not found.", field="project")
    done = 0
    while done < studies:
        count = min(batch, studies - done)
        with ctx.db.write_connection() as conn:
            rows = _Rows(project_id, _next_ids(conn), rng)
            for number in range(done, done + count):
                rows.study(number, series, instances)
            rows.write(conn)
        done += count
    with ctx.db.write_connection() as conn:  # the planner's statistics, for what was added
        for model in (Subject, Session, Scan, Resource, File, Instance):
            conn.execute(text(f"ANALYZE {_table(model).name}"))


class _Rows:
    """The rows of a batch of studies, with the IDs they will have."""

    def __init__(self, project_id: int, ids: dict[str, int], rng: random.Random) -> None:
        self.project_id, self.ids, self.rng = project_id, ids, rng
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in ids}
        self.now = dt.datetime.now(dt.UTC)

    def _id(self, kind: str) -> int:
        value = self.ids[kind]
        self.ids[kind] += 1
        return value

    def study(self, number: int, series: int, instances: int) -> None:
        rng, uid = self.rng, f"{ROOT}.{number + 1}"
        name = f"{rng.choice(FAMILIES)}^{rng.choice(GIVENS)}"
        day = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3650))
        start = dt.datetime.combine(day, dt.time(rng.randrange(7, 19), rng.randrange(60)))
        start += dt.timedelta(milliseconds=rng.randrange(60_000))
        subject, session = self._id("subject"), self._id("session")
        label = f"BULK{uid.rsplit('.', 1)[-1]}"
        common = {"project_id": self.project_id, "created_at": self.now, "updated_at": self.now}
        self.rows["subject"].append(
            {"id": subject, "accession": f"SD_BS{subject:08d}", "label": label, **common}
        )
        self.rows["session"].append(
            {
                "id": session,
                "accession": f"SD_BE{session:08d}",
                "subject_id": subject,
                "label": label,
                "date": day,
                "time": start.time(),
                "note": "",
                "study_instance_uid": uid,
                "patient_name": name,
                "patient_id": f"PID{number + 1:07d}",
                "patient_sex": rng.choice("FM"),
                "study_id": "1",
                "timezone_offset_from_utc": rng.choice(ZONES),
                "accession_number": f"A{number + 1:07d}",
                **common,
            }
        )
        for k in range(1, series + 1):
            begun = start + dt.timedelta(minutes=5 * (k - 1), milliseconds=rng.randrange(1000))
            self._series(session, f"{uid}.{k}", k, instances, uid, begun)

    def _series(
        self, session: int, uid: str, number: int, instances: int, study: str, begun: dt.datetime
    ) -> None:
        scan, resource = self._id("scan"), self._id("resource")
        modality = self.rng.choice(MODALITIES)
        stamp = {"created_at": self.now, "updated_at": self.now}
        when = {"series_date": begun.date(), "series_time": begun.time()}
        when |= {
            "performed_procedure_step_start_date": begun.date(),
            "performed_procedure_step_start_time": begun.time(),
        }
        self.rows["scan"].append(
            {
                "id": scan,
                "session_id": session,
                "label": str(number),
                "series_instance_uid": uid,
                "series_number": number,
                "modality": modality,
                "series_description": f"{modality} series {number}",
                "quality": "usable",
                "note": "",
                **when,
                **stamp,
            }
        )
        self.rows["resource"].append(
            {
                "id": resource,
                "level": "scan",
                "parent_key": f"scan:{scan}",
                "project_id": self.project_id,
                "session_id": session,
                "scan_id": scan,
                "label": "DICOM",
                "format": "DICOM",
                "created_at": self.now,
            }
        )
        for n in range(1, instances + 1):
            self._instance(scan, resource, f"{uid}.{n}", n, (study, uid), stamp, when)

    def _instance(
        self,
        scan: int,
        resource: int,
        sop: str,
        n: int,
        parents: tuple[str, str],
        stamp: Any,
        when: dict[str, Any],
    ) -> None:
        study, series = parents
        file = self._id("file")
        self.rows["file"].append(
            {"id": file, "resource_id": resource, "path": f"{sop}.dcm", "size": 1, "md5": "0" * 32}
            | {"sha256": "0" * 64, "format": "DICOM", **stamp}
        )
        self.rows["instance"].append(
            {
                "id": self._id("instance"),
                "scan_id": scan,
                "file_id": file,
                "sop_instance_uid": sop,
                "sop_class_uid": MR_STORAGE,
                "transfer_syntax_uid": EXPLICIT_LE,
                "study_instance_uid": study,
                "series_instance_uid": series,
                "instance_number": n,
                "rows": 256,
                "columns": 256,
                "bits_allocated": 16,
                "size": 1,
                "received_at": self.now,
                **when,
            }
        )

    def write(self, conn: Connection) -> None:
        order = (Subject, Session, Scan, Resource, File, Instance)
        names = ("subject", "session", "scan", "resource", "file", "instance")
        for model, name in zip(order, names, strict=True):
            if self.rows[name]:
                conn.execute(insert(_table(model)), self.rows[name])
