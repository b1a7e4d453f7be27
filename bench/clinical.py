"""Clinical records: a CSV import of one row per subject, an export, and a de-identified
export (the profile with Modified Dates, run on each subject's probe), on a fresh SQLite
catalog in a temporary folder; figures for docs/clinical.md ("How long it takes").

    .venv/bin/python bench/clinical.py [--subjects 10000]

Not part of the test suite; nothing is contacted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects, subjects
from scandepot.archive.projects import ProjectCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.cli.common import open_context
from scandepot.clinical import csv_import, export, schemas
from scandepot.deid import manage
from scandepot.deid.manage import ScriptIn
from scandepot.settings import Settings

SCHEMA = {
    "type": "object",
    "properties": {
        "weight": {"type": "number", "x-unit": "kg", "minimum": 0},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "diagnosis": {"type": "string", "enum": ["AD", "MCI", "HC"]},
        "smoker": {"type": "boolean"},
        "diagnosis_date": {"type": "string", "format": "date"},
        "notes": {"type": "string", "x-identifying": True},
    },
    "required": ["diagnosis"],
}
PROFILE = '{"options": ["RetainLongitudinalModifiedDates"]}'


def _csv(n: int) -> bytes:
    rows = ["subject,weight,age,diagnosis,smoker,diagnosis_date,notes"]
    rows += [
        f"S{i:06d},{60 + i % 40}.5,{20 + i % 60},{('AD', 'MCI', 'HC')[i % 3]},"
        f"{'yes' if i % 2 else 'no'},2024-0{1 + i % 9}-1{i % 10},note {i}"
        for i in range(n)
    ]
    return ("\n".join(rows) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=10_000)
    n = parser.parse_args().subjects
    ctx = open_context(Settings(data_dir=Path(tempfile.mkdtemp()), admin_password="x" * 12))
    projects.create(ctx, SYSTEM, ProjectCreate(id="B"))
    for i in range(n):
        subjects.create(ctx, SYSTEM, "B", SubjectCreate(label=f"S{i:06d}"))
    schemas.save(ctx, SYSTEM, "B", "subject", SCHEMA)
    manage.save(ctx, SYSTEM, "B", "export", ScriptIn(kind="profile", text=PROFILE))
    data = _csv(n)
    start = time.perf_counter()
    report = csv_import.import_csv(ctx, SYSTEM, "B", data)
    imported = time.perf_counter() - start
    assert report.written and report.count("created") == n
    start = time.perf_counter()
    export.export(ctx, SYSTEM, "B")
    plain = time.perf_counter() - start
    start = time.perf_counter()
    export.export(ctx, SYSTEM, "B", deidentified=True)
    masked = time.perf_counter() - start
    print(f"{n} subjects, a CSV of {len(data)} bytes (SQLite)")
    print(f"import              {imported:6.2f} s  {n / imported:8.0f} rows/s")
    print(f"export (CSV)        {plain:6.2f} s  {n / plain:8.0f} records/s")
    print(f"de-identified (CSV) {masked:6.2f} s  {n / masked:8.0f} records/s")


if __name__ == "__main__":
    main()
