"""Bulk-load a PostgreSQL catalog with the rows archiving writes, fast enough for a
million instances.

What the archiver writes for one archived study (prearchive/archiver.py), made here by
``INSERT ... SELECT generate_series`` instead of one C-STORE at a time: a subject (two
sessions each), a session with its study attributes, a scan per series, the scan's DICOM
resource (``parent_key`` ``scan:{id}``), a file per instance named
``{SOPInstanceUID}.dcm``, the archived ``dicom_instance`` row (its scan and file set, no
staged session, no spool path) and a ``prearchive.archived`` audit event. The counters
behind site-wide IDs move on as the real path would move them. No files are written: the
catalog alone is what listings and searches read.

Calls add to what is there (new projects, studies and UIDs each time), so one database can
be filled in steps: 0, then 100,000, then 1,000,000 instances.

    from bench.catalog_fill import fill
    fill(engine, studies=10_000, instances_per_series=10)   # 10 series a study: 1,000,000

Run alone: .venv/bin/python bench/catalog_fill.py DATABASE_URL --studies 10000
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, insert, text

from scandepot.catalog.archive import Project

# A root of our own for made-up UIDs (PS3.5 §9: numbers and dots, at most 64 characters).
UID_ROOT = "1.2.826.0.1.3680043.10.1405"
MODALITIES = ("MR", "MR", "MR", "CT", "PT")
SESSIONS_PER_SUBJECT = 2


@dataclass(frozen=True, slots=True)
class Filled:
    """What one call added."""

    projects: list[str]
    studies: int
    series: int
    instances: int
    seconds: float


def fill(
    engine: Engine,
    studies: int,
    instances_per_series: int,
    *,
    series_per_study: int = 10,
    studies_per_project: int = 500,
    site_id: str = "SD",
    analyze: bool = True,
) -> Filled:
    """Add ``studies`` archived studies of ``series_per_study`` series of
    ``instances_per_series`` instances each, in new projects of ``studies_per_project``
    studies (labels FILL0001...), then VACUUM ANALYZE. PostgreSQL only."""
    if engine.dialect.name != "postgresql":
        raise ValueError("catalog_fill bulk-loads PostgreSQL only.")
    started = time.perf_counter()
    with engine.begin() as conn:
        base = _bases(conn)
        n_projects = -(-studies // studies_per_project)
        labels = [f"FILL{base['fill'] + i + 1:04d}" for i in range(n_projects)]
        conn.execute(
            insert(Project),
            [{"label": label, "name": f"Bulk cohort {label}"} for label in labels],
        )
        first_project = int(
            conn.execute(
                text("SELECT min(id) FROM project WHERE label = ANY(:l)"), {"l": labels}
            ).scalar_one()
        )
        n_subjects = -(-studies // SESSIONS_PER_SUBJECT)
        params = {
            "studies": studies,
            "series": series_per_study,
            "per": instances_per_series,
            "spp": studies_per_project,
            "sps": SESSIONS_PER_SUBJECT,
            "first_project": first_project,
            "first_subject": base["subject_id"] + 1,
            "subjects": n_subjects,
            "s0": base["subject"],
            "n0": base["session"],
            "sess0": base["session_id"],
            "scan0": base["scan_id"],
            "res0": base["resource_id"],
            "file0": base["file_id"],
            "inst0": base["instance_id"],
            "root": UID_ROOT,
            "site": site_id,
            "mods": list(MODALITIES),
        }
        for statement in _STATEMENTS:
            conn.execute(text(statement), params)
        conn.execute(
            text("UPDATE counter SET value = value + :n WHERE name = 'subject'"),
            {"n": n_subjects},
        )
        conn.execute(
            text("UPDATE counter SET value = value + :n WHERE name = 'session'"),
            {"n": studies},
        )
        for table in (
            "subject",
            "session",
            "scan",
            "resource",
            "file",
            "dicom_instance",
            "audit_event",
        ):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            )
    if analyze:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # As autovacuum leaves an insert-only table: statistics and the visibility map.
            conn.execute(text("VACUUM ANALYZE"))
    series = studies * series_per_study
    return Filled(
        labels,
        studies,
        series,
        series * instances_per_series,
        time.perf_counter() - started,
    )


def _bases(conn: Connection) -> dict[str, int]:
    """Where the numbers of this call start: after every row already there."""
    query = """
        SELECT
          (SELECT count(*) FROM project WHERE label LIKE 'FILL%') AS fill,
          (SELECT value FROM counter WHERE name = 'subject') AS subject,
          (SELECT value FROM counter WHERE name = 'session') AS session,
          (SELECT coalesce(max(id), 0) FROM subject) AS subject_id,
          (SELECT coalesce(max(id), 0) FROM session) AS session_id,
          (SELECT coalesce(max(id), 0) FROM scan) AS scan_id,
          (SELECT coalesce(max(id), 0) FROM resource) AS resource_id,
          (SELECT coalesce(max(id), 0) FROM file) AS file_id,
          (SELECT coalesce(max(id), 0) FROM dicom_instance) AS instance_id
    """
    row = conn.execute(text(query)).mappings().one()
    return {k: int(v) for k, v in row.items()}


# Study s (0-based in this call, n0 + s + 1 site-wide), series r, instance i. Dates spread
# over ten years; patients one per subject.
_STATEMENTS = (
    """
    INSERT INTO subject (id, accession, project_id, label, sex, age, fields,
        created_at, updated_at)
    SELECT :first_subject + t,
        :site || '_S' || lpad((:s0 + t + 1)::text, 5, '0'),
        :first_project + t * :sps / :spp,
        'sub-' || lpad((:first_subject + t)::text, 6, '0'),
        CASE WHEN t % 2 = 0 THEN 'female' ELSE 'male' END,
        20 + t % 60,
        '{}', now(), now()
    FROM generate_series(0, :subjects - 1) AS t
    """,
    """
    INSERT INTO session (id, accession, project_id, subject_id, label, modality, date, time,
        note, study_instance_uid, accession_number, study_id, study_description,
        patient_name, patient_id, patient_birth_date, patient_sex, referring_physician_name,
        modalities_in_study, institution_name, manufacturer, created_at, updated_at)
    SELECT :sess0 + s + 1,
        :site || '_E' || lpad((:n0 + s + 1)::text, 5, '0'),
        :first_project + s / :spp,
        :first_subject + s / :sps,
        'ses-' || lpad((:n0 + s + 1)::text, 7, '0'),
        (CAST(:mods AS text[]))[1 + (:n0 + s) % 5],
        date '2016-01-01' + ((:n0 + s) * 37 % 3650),
        time '08:00' + ((:n0 + s) % 600) * interval '1 minute',
        '',
        :root || '.' || (:n0 + s + 1),
        'A' || (:n0 + s + 1),
        (:n0 + s + 1)::text,
        'Bulk study ' || ((:n0 + s) % 50),
        'Subject^' || lpad((:first_subject + s / :sps)::text, 6, '0'),
        'PAT' || lpad((:first_subject + s / :sps)::text, 7, '0'),
        '19800101',
        CASE WHEN s % 2 = 0 THEN 'F' ELSE 'M' END,
        'Referrer^A',
        (CAST(:mods AS text[]))[1 + (:n0 + s) % 5],
        'Bulk Institute',
        'SIEMENS',
        now(), now()
    FROM generate_series(0, :studies - 1) AS s
    """,
    """
    INSERT INTO scan (id, session_id, label, type, series_instance_uid, series_number,
        series_description, modality, body_part_examined, frames, quality, note,
        created_at, updated_at)
    SELECT :scan0 + s * :series + r + 1,
        :sess0 + s + 1,
        (r + 1)::text,
        'series ' || (r + 1),
        :root || '.' || (:n0 + s + 1) || '.' || (r + 1),
        r + 1,
        'series ' || (r + 1),
        (CAST(:mods AS text[]))[1 + (:n0 + s) % 5],
        'BRAIN',
        :per,
        'usable', '', now(), now()
    FROM generate_series(0, :studies - 1) AS s, generate_series(0, :series - 1) AS r
    """,
    """
    INSERT INTO resource (id, level, parent_key, project_id, subject_id, session_id, scan_id,
        label, created_at)
    SELECT :res0 + s * :series + r + 1,
        'scan',
        'scan:' || (:scan0 + s * :series + r + 1),
        :first_project + s / :spp,
        :first_subject + s / :sps,
        :sess0 + s + 1,
        :scan0 + s * :series + r + 1,
        'DICOM', now()
    FROM generate_series(0, :studies - 1) AS s, generate_series(0, :series - 1) AS r
    """,
    """
    INSERT INTO file (id, resource_id, path, size, md5, sha256, crc32, format,
        created_at, updated_at)
    SELECT :file0 + k + 1,
        :res0 + k / :per + 1,
        :root || '.' || (:n0 + k / (:per * :series) + 1) || '.'
            || (k / :per % :series + 1) || '.' || (k % :per + 1) || '.dcm',
        133000,
        md5(k::text),
        md5(k::text) || md5((k + 1)::text),
        k % 4294967296,
        'DICOM', now(), now()
    FROM generate_series(0, CAST(:studies AS bigint) * :series * :per - 1) AS k
    """,
    """
    INSERT INTO dicom_instance (id, scan_id, file_id, sop_instance_uid, sop_class_uid,
        transfer_syntax_uid, study_instance_uid, series_instance_uid, series_number,
        series_description, modality, body_part_examined, instance_number, rows, columns,
        bits_allocated, size, md5, sha256, crc32, received_at)
    SELECT :inst0 + k + 1,
        :scan0 + k / :per + 1,
        :file0 + k + 1,
        :root || '.' || (:n0 + k / (:per * :series) + 1) || '.'
            || (k / :per % :series + 1) || '.' || (k % :per + 1),
        '1.2.840.10008.5.1.4.1.1.4',
        '1.2.840.10008.1.2.1',
        :root || '.' || (:n0 + k / (:per * :series) + 1),
        :root || '.' || (:n0 + k / (:per * :series) + 1) || '.' || (k / :per % :series + 1),
        k / :per % :series + 1,
        'series ' || (k / :per % :series + 1),
        (CAST(:mods AS text[]))[1 + (:n0 + k / (:per * :series)) % 5],
        'BRAIN',
        k % :per + 1,
        256, 256, 16,
        133000,
        md5(k::text),
        md5(k::text) || md5((k + 1)::text),
        k % 4294967296,
        now()
    FROM generate_series(0, CAST(:studies AS bigint) * :series * :per - 1) AS k
    """,
    """
    INSERT INTO audit_event (id, at, actor_login, action, project, target, detail)
    SELECT (SELECT coalesce(max(id), 0) FROM audit_event) + s + 1,
        now() - (:studies - s) * interval '1 minute',
        'system',
        'prearchive.archived',
        (SELECT label FROM project WHERE id = :first_project + s / :spp),
        'sub-' || lpad((:first_subject + s / :sps)::text, 6, '0')
            || '/ses-' || lpad((:n0 + s + 1)::text, 7, '0'),
        json_build_object('files', :series * :per, 'merged', false)
    FROM generate_series(0, :studies - 1) AS s
    """,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url", help="a migrated PostgreSQL catalog")
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--instances-per-series", type=int, default=10)
    args = parser.parse_args()
    engine = create_engine(args.database_url)
    done = fill(engine, args.studies, args.instances_per_series, series_per_study=args.series)
    print(
        f"added {done.studies} studies, {done.series} series, {done.instances} instances "
        f"in {done.seconds:.1f} s (projects {done.projects[0]}..{done.projects[-1]})"
    )


if __name__ == "__main__":
    main()
