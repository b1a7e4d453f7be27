"""The bulk fill of bench/scale.py: archived studies written into a PostgreSQL catalog
with COPY, modelled row for row on a study that was really received.

The rows that receiving and archiving one study wrote (every table that gained rows,
read back after the study was archived) are the templates. Each bulk study gets a copy
of them with its own IDs, UIDs, labels, patient, dates, paths and checksums; every other
column keeps the value the real path gave it, so the same columns are filled. Shapes:
``series`` series of ``instances`` instances per study, one DICOM resource per scan, a
file row and an archived instance row per instance, the subject's and session's stable
IDs drawn from the catalog's counters (which are moved past them), the event journal's
rows (marked as dispatched: the server would have dispatched them long ago) and the
audit entry. No file is written: the rows name files that do not exist, so nothing but
the bench's own received studies can be downloaded or retrieved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any

import psycopg

from scandepot.query.bulk import FAMILIES, GIVENS, MODALITIES, ZONES

ROOT = "1.2.826.0.1.3680043.8.498.9"  # pydicom's UID root, then the scale bench's
# Tables a received study adds rows to, parents first; the loader fills these.
TABLES = (
    "subject",
    "session",
    "scan",
    "resource",
    "file",
    "dicom_instance",
    "event_record",
    "audit_event",
)


def table_sizes(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """The highest ID of every table with an integer ``id`` column."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND column_name = 'id' AND data_type IN ('integer', 'bigint')"
    ).fetchall()
    return {
        name: int(conn.execute(f'SELECT coalesce(max(id), 0) FROM "{name}"').fetchone()[0])  # type: ignore[index]
        for (name,) in rows
    }


def added(conn: psycopg.Connection[Any], table: str, after: int) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(f'SELECT * FROM "{table}" WHERE id > %s ORDER BY id', (after,)).fetchall()


def non_null(rows: list[dict[str, Any]]) -> set[str]:
    return {k for row in rows for k, v in row.items() if v is not None}


@dataclass
class Templates:
    """One row of each kind that a real receive and archive wrote."""

    rows: dict[str, dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)  # every journal row, in order

    @classmethod
    def read(cls, conn: psycopg.Connection[Any], before: dict[str, int]) -> Templates:
        rows, events = {}, []
        for table in TABLES:
            found = added(conn, table, before.get(table, 0))
            if not found:
                raise RuntimeError(f"the received study added no row to {table}")
            if table == "resource":
                found = [r for r in found if r["level"] == "scan"]
            rows[table] = found[0]
            if table == "event_record":
                events = found
        return cls(rows, events)


class Loader:
    """Writes bulk studies; call :meth:`load` for each batch, then :meth:`finish`."""

    def __init__(self, conn: psycopg.Connection[Any], templates: Templates, site: str) -> None:
        self.conn, self.t, self.site = conn, templates, site
        self.rng = random.Random(0)
        self.studies = 0  # bulk studies made so far, over every batch
        self.now = dt.datetime.now(dt.UTC)

    def load(self, projects: list[tuple[int, str]], studies: int, series: int, n: int) -> None:
        """``studies`` more studies, spread over ``projects`` (ID, label) in turn."""
        ids = {t: self._max(t) + 1 for t in TABLES}
        counters = {
            name: int(v)
            for name, v in self.conn.execute("SELECT name, value FROM counter").fetchall()
        }
        out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
        cols = {t: list(self.t.rows[t]) for t in TABLES}
        for _ in range(studies):
            self.studies += 1
            project = projects[self.studies % len(projects)]
            counters["subject"] = counters.get("subject", 0) + 1
            counters["session"] = counters.get("session", 0) + 1
            _Study(self, project, ids, counters, out, cols).make(series, n)
        with self.conn.cursor() as cur:
            for table in TABLES:
                names = ", ".join(f'"{c}"' for c in cols[table])
                with cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                    for row in out[table]:
                        copy.write_row(row)
            for name in ("subject", "session"):
                cur.execute("UPDATE counter SET value = %s WHERE name = %s", (counters[name], name))
            for table in TABLES:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", (ids[table] - 1,)
                )
        self.conn.commit()

    def finish(self) -> None:
        """The planner's statistics, as autovacuum would gather them a minute later."""
        for table in TABLES:
            self.conn.execute(f'ANALYZE "{table}"')
        self.conn.commit()

    def _max(self, table: str) -> int:
        return int(self.conn.execute(f'SELECT coalesce(max(id), 0) FROM "{table}"').fetchone()[0])  # type: ignore[index]


class _Study:
    """The rows of one bulk study, appended to ``out`` as tuples in ``cols`` order."""

    def __init__(
        self,
        loader: Loader,
        project: tuple[int, str],
        ids: dict[str, int],
        counters: dict[str, int],
        out: dict[str, list[tuple[Any, ...]]],
        cols: dict[str, list[str]],
    ) -> None:
        self.l, self.project, self.ids, self.counters = loader, project, ids, counters
        self.out, self.cols, self.rng = out, cols, loader.rng
        self.number = loader.studies
        self.uid = f"{ROOT}.{self.number}"

    def _id(self, table: str) -> int:
        value = self.ids[table]
        self.ids[table] += 1
        return value

    def _add(self, table: str, template: dict[str, Any] | None = None, **values: Any) -> None:
        template = template or self.l.t.rows[table]
        # A column the real path left empty stays empty (dispatched_at aside: see above).
        row = {
            k: values[k] if k in values and (v is not None or k == "dispatched_at") else v
            for k, v in template.items()
        }
        self.out[table].append(tuple(_copyable(row[c]) for c in self.cols[table]))

    def make(self, series: int, n: int) -> None:
        rng, now, site = self.rng, self.l.now, self.l.site
        project_id, project = self.project
        label = f"BULK{self.number:06d}"
        day = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(3650))
        start = dt.datetime.combine(day, dt.time(rng.randrange(7, 19), rng.randrange(60)))
        subject, session = self._id("subject"), self._id("session")
        stable = f"{site}_E{self.counters['session']:05d}"
        modalities = [rng.choice(MODALITIES) for _ in range(series)]
        stamp = {"created_at": now, "updated_at": now}
        self._add(
            "subject",
            id=subject,
            accession=f"{site}_S{self.counters['subject']:05d}",
            project_id=project_id,
            label=label,
            **stamp,
        )
        self._add(
            "session",
            id=session,
            accession=stable,
            project_id=project_id,
            subject_id=subject,
            label=label,
            date=day,
            time=start.time(),
            study_instance_uid=self.uid,
            patient_name=f"{rng.choice(FAMILIES)}^{rng.choice(GIVENS)}",
            patient_id=f"PID{self.number:07d}",
            accession_number=f"A{self.number:07d}",
            timezone_offset_from_utc=rng.choice(ZONES),
            modality=modalities[0]
            if len(set(modalities)) == 1
            else "/".join(sorted(set(modalities))),
            modalities_in_study="\\".join(sorted(set(modalities))),
            **stamp,
        )
        for k in range(1, series + 1):
            begun = start + dt.timedelta(minutes=5 * (k - 1))
            self._series(project_id, subject, session, k, modalities[k - 1], begun, n)
        self._journal(project, label, stable, series, n)
        self._add(
            "audit_event",
            id=self._id("audit_event"),
            at=now,
            project=project,
            target=f"{label}/{label}",
            detail=_merge(self.l.t.rows["audit_event"]["detail"], files=series * n),
        )

    def _series(
        self,
        project_id: int,
        subject: int,
        session: int,
        k: int,
        modality: str,
        begun: dt.datetime,
        n: int,
    ) -> None:
        scan, resource, series = self._id("scan"), self._id("resource"), f"{self.uid}.{k}"
        description = f"{modality} series {k}"
        when = {"series_date": begun.date(), "series_time": begun.time()}
        when |= {
            "performed_procedure_step_start_date": begun.date(),
            "performed_procedure_step_start_time": begun.time(),
        }
        now = {"created_at": self.l.now}
        self._add(
            "scan", id=scan, session_id=session, label=str(k), type=description,
            series_instance_uid=series, series_number=k, series_description=description,
            modality=modality, **when, **now, updated_at=self.l.now,
        )  # fmt: skip
        self._add(
            "resource", id=resource, parent_key=f"scan:{scan}", project_id=project_id,
            subject_id=subject if self.l.t.rows["resource"]["subject_id"] else None,
            session_id=session, scan_id=scan, **now,
        )  # fmt: skip
        for i in range(1, n + 1):
            sop = f"{series}.{i}"
            digest = hashlib.md5(sop.encode()).hexdigest()  # unique, as a checksum would be
            sums = {"md5": digest, "sha256": digest * 2, "crc32": int(digest[:8], 16)}
            file = self._id("file")
            self._add(
                "file", id=file, resource_id=resource, path=f"{sop}.dcm", **sums, **now,
                updated_at=self.l.now,
            )  # fmt: skip
            self._add(
                "dicom_instance", id=self._id("dicom_instance"), scan_id=scan, file_id=file,
                sop_instance_uid=sop, study_instance_uid=self.uid, series_instance_uid=series,
                series_number=k, series_description=description, modality=modality,
                instance_number=i, received_at=self.l.now, **sums, **when,
            )  # fmt: skip

    def _journal(self, project: str, label: str, stable: str, series: int, n: int) -> None:
        for event in self.l.t.events:
            payload = _merge(
                event["payload"],
                project=project,
                subject=label,
                session=label,
                session_id=stable,
                StudyInstanceUID=self.uid,
                staged_id=self.number,
                scans=[str(k) for k in range(1, series + 1)],
                files=series * n,
                instances=series * n,
            )
            self._add(
                "event_record",
                event,
                id=self._id("event_record"),
                project=project,
                payload=payload,
                created_at=self.l.now,
                dispatched_at=self.l.now,
            )


def _merge(stored: Any, **values: Any) -> dict[str, Any]:
    """``stored`` (a JSON object) with those of ``values`` it has keys for."""
    found = dict(stored) if isinstance(stored, dict) else {}
    return {k: (values[k] if k in values else v) for k, v in found.items()}


def _copyable(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value
