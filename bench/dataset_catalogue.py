"""Dataset catalogue benchmark; figures for docs/benchmarks.md ("Dataset catalogue").

A released version of 500 subjects / 1,000 sessions / 2,000 series / 2,000,000 instances
(one file each), bulk-loaded on PostgreSQL with INSERT ... SELECT generate_series (the
catalogue rows an archive of that size holds, and the manifest a release writes; no file
bytes: the aggregates read only the catalogue), with a clinical record per subject. Then:

1. ``aggregates.compute()`` at publication (target: none; it runs once, in publish);
2. the public version page, the API's answer for it and the service read of the stored
   aggregates (target: under 200 ms);
3. the catalogue page and API listing with 1,000 published datasets, unfiltered and
   filtered (target: under 300 ms).

Pages and API are asked in-process (ASGI, no network), anonymously, so the figures are the
server's own time. No peer does this step; the issue names none.

Run: .venv/bin/python bench/dataset_catalogue.py [--subjects 500] [--sessions-per 2]
     [--series-per 2] [--instances-per 1000] [--datasets 1000] [--repeat 20]
     [--server postgresql+psycopg://postgres@127.0.0.1:5432]   (a database is made, dropped)
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scandepot.access.actors import ANONYMOUS, SYSTEM  # noqa: E402
from scandepot.app import create_app  # noqa: E402
from scandepot.archive import projects  # noqa: E402
from scandepot.archive.projects import ProjectCreate  # noqa: E402
from scandepot.catalog.datasets import Dataset, DatasetVersion, VersionState  # noqa: E402
from scandepot.cli.common import open_context  # noqa: E402
from scandepot.clinical import schemas  # noqa: E402
from scandepot.context import Context  # noqa: E402
from scandepot.datasets import aggregates, catalogue, search_terms  # noqa: E402
from scandepot.settings import Settings  # noqa: E402

PROJECT = "BENCH"
SCHEMA = {
    "type": "object",
    "properties": {
        "diagnosis": {"type": "string", "enum": ["AD", "MCI", "HC"]},
        "mmse": {"type": "integer", "minimum": 0, "maximum": 30},
        "weight": {"type": "number", "x-unit": "kg"},
    },
}

# Server-side generation: each statement makes its rows without a round trip per row.
FILL = [
    """INSERT INTO subject (accession, project_id, label, fields, created_at, updated_at)
       SELECT 'SD_S' || lpad(i::text, 7, '0'), :project, 'sub-' || lpad(i::text, 5, '0'),
              '{}', now(), now()
       FROM generate_series(1, :subjects) i""",
    """INSERT INTO session (accession, project_id, subject_id, label, modality, date,
              patient_sex, patient_birth_date, manufacturer, magnetic_field_strength,
              note, created_at, updated_at)
       SELECT 'SD_E' || lpad(i::text, 7, '0'), :project,
              (SELECT min(id) FROM subject) + (i - 1) / :sessions_per,
              'ses-' || lpad(i::text, 6, '0'), 'MR', DATE '2020-01-01' + (i % 1000),
              CASE WHEN i % 3 = 0 THEN 'M' ELSE 'F' END,
              (1940 + (i * 7) % 60)::text || '0101',
              CASE WHEN i % 5 = 0 THEN 'GE' ELSE 'SIEMENS' END,
              CASE WHEN i % 4 = 0 THEN 1.5 ELSE 3 END, '', now(), now()
       FROM generate_series(1, :sessions) i""",
    """INSERT INTO scan (session_id, label, series_number, modality, body_part_examined,
              quality, note, created_at, updated_at)
       SELECT s.id, k::text, k, 'MR', 'BRAIN',
              'usable', '', now(), now()
       FROM session s, generate_series(1, :series_per) k""",
    """INSERT INTO resource (level, parent_key, project_id, subject_id, session_id, scan_id,
              label, created_at)
       SELECT 'scan', 'scan:' || c.id, :project, s.subject_id, s.id, c.id, 'DICOM', now()
       FROM scan c JOIN session s ON s.id = c.session_id""",
    """INSERT INTO file (resource_id, path, size, md5, sha256, created_at, updated_at)
       SELECT r.id, k || '.dcm', 500000, md5(r.id || '/' || k), md5(r.id || '/' || k)
              || md5(k || '/' || r.id), now(), now()
       FROM resource r, generate_series(1, :instances_per) k""",
    """INSERT INTO dicom_instance (scan_id, file_id, sop_instance_uid, sop_class_uid,
              transfer_syntax_uid, study_instance_uid, series_instance_uid, size,
              received_at)
       SELECT r.scan_id, f.id, '1.2.826.0.1.3680043.8.498.' || f.id,
              '1.2.840.10008.5.1.4.1.1.4', '1.2.840.10008.1.2.1',
              '1.2.826.0.1.3680043.8.498.1' || r.session_id,
              '1.2.826.0.1.3680043.8.498.2' || r.scan_id, f.size, now()
       FROM file f JOIN resource r ON r.id = f.resource_id""",
    """INSERT INTO dataset_file (version_id, file_id, path, size, md5, sha256, project_id,
              subject_id, session_id, scan_id)
       SELECT :version, f.id,
              'BENCH/' || r.subject_id || '/' || r.session_id || '/scans/' || r.scan_id
              || '/DICOM/' || f.path, f.size, f.md5, f.sha256, r.project_id,
              r.subject_id, r.session_id, r.scan_id
       FROM file f JOIN resource r ON r.id = f.resource_id""",
    """INSERT INTO clinical_record (project_id, subject_id, level, "values", version,
              schema_version, updated_by, updated_at)
       SELECT :project, s.id, 'subject', json_build_object(
              'diagnosis', (ARRAY['AD', 'MCI', 'HC'])[1 + s.id % 3],
              'mmse', 10 + s.id % 21, 'weight', 50 + (s.id * 13) % 60),
              1, 1, 'bench', now()
       FROM subject s""",
]


def fill(ctx: Context, args: argparse.Namespace) -> int:
    """The archive's rows, the released version and its manifest; the version's id."""
    projects.create(ctx, SYSTEM, ProjectCreate(id=PROJECT, name="Benchmark cohort"))
    schemas.save(ctx, SYSTEM, PROJECT, "subject", SCHEMA)
    with ctx.db.write() as db:
        project = db.scalar(text("SELECT id FROM project WHERE label = :l"), {"l": PROJECT})
        dataset = Dataset(stable_id="SD_D00001", name="bench-cohort", created_by="bench")
        db.add(dataset)
        db.flush()
        version = DatasetVersion(
            dataset_id=dataset.id,
            number=1,
            state=VersionState.RELEASED,
            meta=_meta("Benchmark cohort", ["dementia", "MRI"]),
            created_by="bench",
        )
        db.add(version)
        db.flush()
        values = {
            "project": project,
            "version": version.id,
            "subjects": args.subjects,
            "sessions": args.subjects * args.sessions_per,
            "sessions_per": args.sessions_per,
            "series_per": args.series_per,
            "instances_per": args.instances_per,
        }
        for statement in FILL:
            start = time.perf_counter()
            db.execute(text(statement), values)
            print(f"  {statement.split()[2]:15} {time.perf_counter() - start:6.1f} s")
        version_id = version.id
    with ctx.db.write_connection() as conn:
        conn.execute(text("ANALYZE"))
    return version_id


def _meta(title: str, keywords: list[str]) -> dict[str, Any]:
    return {
        "title": title,
        "description": f"{title}: structural MRI with clinical scores.",
        "keywords": keywords,
        "licence": "https://creativecommons.org/licenses/by/4.0/",
    }


def publish(ctx: Context, version_id: int) -> tuple[float, float]:
    """compute() as publish runs it; (its time, and the time to store and commit), s."""
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, version_id)
        assert version is not None
        start = time.perf_counter()
        figures = aggregates.compute(db, version, suppress_below=5)
        computed = time.perf_counter() - start
        version.aggregates = figures
        version.state = VersionState.PUBLISHED
        version.published_at = dt.datetime.now(dt.UTC)
    return computed, time.perf_counter() - start - computed


def more_datasets(ctx: Context, count: int, figures: dict[str, Any]) -> None:
    """``count`` more published datasets, each with figures of the cohort's size."""
    now = dt.datetime.now(dt.UTC)
    words = ["dementia", "ageing", "stroke", "glioma", "knee", "cardiac", "paediatric"]
    with ctx.db.write() as db:
        db.execute(
            insert(Dataset),
            [
                {"stable_id": f"SD_D{i:05d}", "name": f"set-{i:05d}", "created_by": "bench"}
                for i in range(2, count + 2)
            ],
        )
        ids = list(db.scalars(select(Dataset.id).where(Dataset.name.like("set-%"))))
        rows = []
        for n, dataset_id in enumerate(ids):
            meta = _meta(f"Cohort {n} of {words[n % len(words)]}", [words[n % len(words)]])
            own = {**figures, search_terms.KEY: search_terms.build(meta, figures)}
            rows.append(
                {
                    "dataset_id": dataset_id,
                    "number": 1,
                    "state": VersionState.PUBLISHED,
                    "meta": meta,
                    "aggregates": own,
                    "created_by": "bench",
                    "published_at": now - dt.timedelta(minutes=n),
                }
            )
        db.execute(insert(DatasetVersion), rows)
    with ctx.db.write_connection() as conn:
        conn.execute(text("ANALYZE dataset_version"))


def timed(call: Any, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    ordered = sorted(times)
    return statistics.median(times), ordered[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def get(client: TestClient, url: str) -> Any:
    def call() -> None:
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])

    return call


def measure(ctx: Context, args: argparse.Namespace) -> None:
    app = create_app(ctx=ctx, install_pipelines=False)
    with TestClient(app) as client:
        reads = [
            (
                "service read of the stored aggregates",
                lambda: catalogue.version(ctx, ANONYMOUS, "SD_D00001", 1),
            ),
            ("version page /datasets/SD_D00001/v1", get(client, "/datasets/SD_D00001/v1")),
            (
                "API /api/v1/catalogue/SD_D00001/versions/1",
                get(client, "/api/v1/catalogue/SD_D00001/versions/1"),
            ),
            ("DCAT of the version", get(client, "/api/v1/catalogue/SD_D00001/versions/1/dcat")),
        ]
        lists = [
            ("catalogue page /datasets (first 25)", get(client, "/datasets")),
            ("catalogue page, last page", get(client, f"/datasets?offset={args.datasets - 25}")),
            (
                "catalogue page, q=dementia&modality=MR",
                get(client, "/datasets?q=dementia&modality=MR"),
            ),
            ("API /api/v1/catalogue (100)", get(client, "/api/v1/catalogue")),
            (
                "API, keyword=stroke&body_part=BRAIN",
                get(client, "/api/v1/catalogue?keyword=stroke&body_part=BRAIN"),
            ),
            ("DCAT feed, first page (100)", get(client, "/api/v1/catalogue/feeds/dcat")),
        ]
        for _, call in reads + lists:
            call()  # warm
        print(f"median and 95th percentile of {args.repeat} requests, ms:")
        for title, group, target in (("stored aggregates", reads, 200), ("catalogue", lists, 300)):
            worst = 0.0
            for name, call in group:
                median, p95 = timed(call, args.repeat)
                worst = max(worst, median)
                print(f"  {name:46} {median:8.1f} {p95:8.1f}")
            verdict = "met" if worst < target else "NOT met"
            print(f"  slowest {title} median {worst:.1f} ms: target < {target} ms {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=500)
    parser.add_argument("--sessions-per", type=int, default=2)
    parser.add_argument("--series-per", type=int, default=2)
    parser.add_argument("--instances-per", type=int, default=1000)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    name = f"scandepot_bench_ds_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp) / "data", database_url=f"{args.server}/{name}")
            ctx = open_context(settings)
            sessions = args.subjects * args.sessions_per
            series = sessions * args.series_per
            print(
                f"bulk-loading {args.subjects} subjects, {sessions} sessions, {series} series, "
                f"{series * args.instances_per} instances and the manifest (PostgreSQL):"
            )
            start = time.perf_counter()
            version_id = fill(ctx, args)
            print(f"  filled in {time.perf_counter() - start:.1f} s")
            for attempt in range(3):
                computed, stored = publish(ctx, version_id)
                print(f"compute() at publication: {computed:.2f} s (storing it: {stored:.3f} s)")
                if attempt < 2:
                    with ctx.db.write() as db:
                        row = db.get(DatasetVersion, version_id)
                        assert row is not None
                        row.state = VersionState.RELEASED
            with ctx.db.read() as db:
                row = db.get(DatasetVersion, version_id)
                assert row is not None and row.aggregates is not None
                figures = row.aggregates
                print(
                    f"stored aggregates: {len(str(figures))} characters; counts {figures['counts']}"
                )
            more_datasets(
                ctx, args.datasets - 1, {k: v for k, v in figures.items() if k != "search"}
            )
            measure(ctx, args)
            ctx.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
