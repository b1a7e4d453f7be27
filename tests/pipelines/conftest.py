"""Archived sessions built through the archive's own services, and a way to run the
queued jobs in the test's process (the executors have tests of their own)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest

from scandepot.access.actors import SYSTEM
from scandepot.archive import files, projects, scans, sessions, subjects
from scandepot.archive.projects import ProjectCreate
from scandepot.archive.resources import OwnerRef
from scandepot.archive.scans import ScanCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.pipelines import JobStatus
from scandepot.context import Context
from scandepot.errors import Conflict
from scandepot.events import SessionArchived
from scandepot.pipelines import builtin, config, queue, runner
from scandepot.pipelines.config import ConfigUpdate
from scandepot.pipelines.jobrun import Pipelines
from tests.pipelines.dicom import (
    DWI_SERIES,
    EPI_MOSAIC,
    UNCONVERTIBLE,
    heudiconv_data,
    phantom,
    write_series,
)

ArchiveFn = Callable[..., SessionArchived]


def upload(ctx: Context, ref: OwnerRef, paths: Iterable[Path]) -> None:
    for path in paths:
        with ctx.store.stage() as staged:
            staged.write(path.read_bytes())
            files.commit_upload(ctx, SYSTEM, ref, "DICOM", path.name, staged)


@pytest.fixture
def archive(ctx: Context) -> ArchiveFn:
    """Archive a session: ``scans`` maps scan IDs to the DICOM files of each."""
    return lambda scans_files, **labels: archive_session(ctx, scans_files, **labels)


def archive_session(
    ctx: Context,
    scans_files: dict[str, list[Path]],
    *,
    project: str = "PIPE",
    subject: str = "S1",
    session: str = "E1",
    complete_after_min: int = 0,
) -> SessionArchived:
    """A session built as the prearchive will: session, scans, DICOM files, as the system.
    Returns the event the prearchive publishes (the caller publishes it). Auto-launched
    pipelines start at once unless ``complete_after_min`` says otherwise."""
    with contextlib.suppress(Conflict):  # the project and subject of an earlier call
        projects.create(
            ctx,
            SYSTEM,
            ProjectCreate(id=project, session_complete_after_min=complete_after_min),
        )
    with contextlib.suppress(Conflict):
        subjects.create(ctx, SYSTEM, project, SubjectCreate(label=subject))
    created = sessions.create(
        ctx, SYSTEM, project, SessionCreate(label=session, subject=subject, modality="MR")
    )
    for number, (label, paths) in enumerate(scans_files.items(), start=1):
        scans.create(
            ctx, SYSTEM, project, session,
            ScanCreate(id=label, SeriesNumber=number, Modality="MR"),
        )  # fmt: skip
        upload(ctx, OwnerRef(project, session=session, scan=label), paths)
    return SessionArchived(project, subject, session, created.stable_id, tuple(scans_files))


def enable(
    ctx: Context, project: str, *names: str, auto: bool = True, **parameters: object
) -> None:
    for name in names:
        config.configure(
            ctx,
            SYSTEM,
            project,
            name,
            ConfigUpdate(enabled=True, auto_launch=auto, parameters=dict(parameters) or None),
        )


def run_queued(
    ctx: Context, *, limit: int = 50, pipelines: Pipelines | None = None
) -> list[JobStatus]:
    """Claim and run queued jobs in this process until none is left, with the pipelines
    scandepot ships unless ``pipelines`` says otherwise."""
    run_with = builtin.pipelines() if pipelines is None else pipelines
    ended = []
    for _ in range(limit):
        taken = queue.claim_next(ctx, "test", 1)
        if not taken:
            return ended
        job_id, token = taken[0]
        ended.append(
            runner.execute(ctx, job_id, token, pipelines=run_with, dispatch=lambda _ids: None)
        )
    return ended


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Series written once per run: a 3D volume (with one marked voxel) and a 4D run."""
    root = tmp_path_factory.mktemp("dicom")
    volume = np.clip(phantom((32, 40, 12), noise=20, seed=1) + 100, 0, None)
    volume[12, 15, 5] = 4000  # the brightest voxel (inside the head), to check orientation
    run4d = np.clip(phantom((24, 28, 10, 8), noise=20, seed=2) + 100, 0, None)
    return {
        "t1": write_series(root / "t1", volume.astype(np.uint16), series_number=1),
        "bold": write_series(
            root / "bold", run4d.astype(np.uint16), series_number=2, description="bold"
        ),
    }


@pytest.fixture(scope="session")
def real() -> dict[str, list[Path]]:
    data = heudiconv_data()
    return {
        "epi": [data / EPI_MOSAIC],
        "dwi": sorted((data / DWI_SERIES).glob("*.dcm")),
        "bad": [data / UNCONVERTIBLE],
    }


def copy_to(folder: Path, paths: Iterable[Path]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in paths:
        shutil.copy(path, folder / path.name)
        out.append(folder / path.name)
    return out
