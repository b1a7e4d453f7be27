"""Validation of a released dataset version: files checked per second (each read once:
size, SHA-256, and for a DICOM instance its header through de-identification's
verification), on a fresh SQLite catalog in a temporary folder, beside plain SHA-256
hashing of the same files in the same run (the floor: reading and hashing alone). The
figure is what 2,000,000 instances would take. docs/benchmarks.md, "Dataset validation".

    .venv/bin/python bench/dataset_validation.py [--files 20000] [--size 64]

``--size``: the instances' rows and columns (64: 8 KB files; 256: 128 KB, an MR slice).
Not part of the test suite; nothing is contacted.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects, scans, sessions, subjects
from scandepot.archive.layout import owner_dir, resource_files_dir
from scandepot.archive.projects import ProjectCreate
from scandepot.archive.scans import ScanCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.archive import File, Resource, Scan, Session
from scandepot.catalog.datasets import (
    Dataset,
    DatasetFile,
    DatasetVersion,
    VersionState,
)
from scandepot.catalog.ids import next_stable_id
from scandepot.cli.common import open_context
from scandepot.context import Context
from scandepot.datasets import validation
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.pipelines import queue, runner
from scandepot.settings import Settings

PER_SESSION = 2000


def _load(ctx: Context, n: int, size: int) -> tuple[int, list[Path]]:
    """``n`` de-identified MR instances archived in project B (sessions of 2,000),
    catalogued in bulk, and a released version holding them."""
    projects.create(ctx, SYSTEM, ProjectCreate(id="B"))
    study = Study(PatientName="SUBJ-1", PatientID="SUBJ-1")
    paths: list[Path] = []
    rows: list[dict[str, object]] = []
    for first in range(0, n, PER_SESSION):
        label = f"E{first // PER_SESSION:04d}"
        subjects.create(ctx, SYSTEM, "B", SubjectCreate(label=f"S{label}"))
        sessions.create(ctx, SYSTEM, "B", SessionCreate(label=label, subject=f"S{label}"))
        scans.create(ctx, SYSTEM, "B", label, ScanCreate(id="1"))
        with ctx.db.write() as db:
            scan = db.scalar(select(Scan).join(Session).where(Session.label == label))
            assert scan is not None
            resource = Resource(
                level="scan",
                parent_key=f"scan:{scan.id}",
                project_id=scan.session.project_id,
                subject_id=scan.session.subject_id,
                session_id=scan.session_id,
                scan_id=scan.id,
                label="DICOM",
                format="DICOM",
            )
            db.add(resource)
            db.flush()
            folder = resource_files_dir(owner_dir("B", f"S{label}", label, "1"), "DICOM")
            disk = ctx.archive_path(folder)
            disk.mkdir(parents=True, exist_ok=True)
            for i in range(first, min(n, first + PER_SESSION)):
                ds = mr_instance(study, Series(1), i + 1, rows=size, columns=size)
                ds.PatientIdentityRemoved = "YES"
                data = to_bytes(ds)
                (disk / f"{i:07d}.dcm").write_bytes(data)
                paths.append(disk / f"{i:07d}.dcm")
                rows.append(
                    {
                        "resource_id": resource.id,
                        "path": f"{i:07d}.dcm",
                        "size": len(data),
                        "md5": hashlib.md5(data).hexdigest(),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "format": "DICOM",
                        "ids": (
                            scan.session.project_id,
                            scan.session.subject_id,
                            scan.session_id,
                            scan.id,
                        ),
                    }
                )
    return _release(ctx, rows), paths


def _release(ctx: Context, rows: list[dict[str, object]]) -> int:
    with ctx.db.write() as db:
        dataset = Dataset(
            stable_id=next_stable_id(db, "dataset", ctx.settings.site_id),
            name="bench",
            created_by="system",
        )
        db.add(dataset)
        db.flush()
        version = DatasetVersion(
            dataset_id=dataset.id, number=1, state=VersionState.RELEASED, created_by="system"
        )
        db.add(version)
        db.flush()
        files = [{k: v for k, v in r.items() if k != "ids"} for r in rows]
        ids = db.scalars(insert(File).returning(File.id), files).all()
        manifest = []
        for file_id, row in zip(ids, rows, strict=True):
            project_id, subject_id, session_id, scan_id = row["ids"]  # type: ignore[misc]
            manifest.append(
                {
                    "version_id": version.id,
                    "file_id": file_id,
                    "path": f"B/{row['path']}",
                    "size": row["size"],
                    "md5": row["md5"],
                    "sha256": row["sha256"],
                    "project_id": project_id,
                    "subject_id": subject_id,
                    "session_id": session_id,
                    "scan_id": scan_id,
                }
            )
        db.execute(insert(DatasetFile), manifest)
        validation.start(db, version)
        return version.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    ctx = open_context(Settings(data_dir=Path(tempfile.mkdtemp()), admin_password="x" * 12))
    mark = time.monotonic()
    version_id, paths = _load(ctx, args.files, args.size)
    print(f"loaded {args.files} files in {time.monotonic() - mark:.1f} s")
    total = sum(p.stat().st_size for p in paths)
    mark = time.monotonic()
    for path in paths:
        hashlib.sha256(path.read_bytes()).hexdigest()
    hashing = time.monotonic() - mark
    ((job_id, token),) = queue.claim_next(ctx, "bench", 1)
    mark = time.monotonic()
    status = runner.execute(
        ctx, job_id, token, pipelines={validation.TASK: validation.run}, dispatch=lambda _i: None
    )
    took = time.monotonic() - mark
    with ctx.db.read() as db:
        version = db.get(DatasetVersion, version_id)
        assert version is not None
        outcome = version.validation
    rate, floor = args.files / took, args.files / hashing
    print(f"validation: {status.value}, {outcome}; {args.files} files, {total / 1e6:.0f} MB")
    print(f"validation: {took:.2f} s, {rate:.0f} files/s, {total / took / 1e6:.0f} MB/s")
    print(f"SHA-256 alone: {hashing:.2f} s, {floor:.0f} files/s ({rate / floor:.2f} of it)")
    print(f"2,000,000 such files: {2_000_000 / rate / 60:.0f} min")


if __name__ == "__main__":
    main()
