"""What the scale-out tests share: DICOM studies written once, the project they go to, and
waiting for the deployment to archive them."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectCreate
from scandepot.catalog.archive import Project, Session
from scandepot.catalog.archive import UploadDestination as Destination
from scandepot.catalog.pipelines import Job
from scandepot.catalog.prearchive import Instance, StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance
from scandepot.pipelines import config
from scandepot.pipelines.config import ConfigUpdate

T = TypeVar("T")
PROJECT = "SCALE"
SLICES = 24  # 256 x 256 x 16 bits: instances of about 130 KB, as in the target


def write_studies(folder: Path, count: int, *, slices: int = SLICES) -> dict[str, list[Path]]:
    """``count`` studies of one series each (a phantom head that dcm2niix converts), each
    of its own patient; by StudyInstanceUID."""
    written: dict[str, list[Path]] = {}
    for n in range(1, count + 1):
        study = Study(PatientName=f"SUBJ{n}", PatientID=f"SESS{n}", AccessionNumber=f"A{n}")
        series = Series()
        paths = []
        for i in range(1, slices + 1):
            ds = mr_instance(study, series, i, rows=256, columns=256, phantom_slices=slices)
            path = folder / f"{n}" / f"{i:03d}.dcm"
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        written[study.StudyInstanceUID] = paths
    return written


def make_project(
    ctx: Context,
    label: str = PROJECT,
    *,
    pipelines: tuple[str, ...] = (),
    destination: Destination = Destination.ARCHIVE,
) -> None:
    """A project that archives what arrives at once (unless ``destination`` says
    otherwise) and auto-launches ``pipelines`` as soon as a session is archived."""
    projects.create(
        ctx,
        SYSTEM,
        ProjectCreate(id=label, upload_destination=destination, session_complete_after_min=0),
    )
    for name in pipelines:
        config.configure(ctx, SYSTEM, label, name, ConfigUpdate(enabled=True, auto_launch=True))


def storescu(port: int, files: list[Path], *, calling: str = "SCANNER1") -> subprocess.Popen[str]:
    """dcmtk's storescu sending ``files`` in one association, started and left running;
    it calls the AE title that routes to the project (the deployment's ``ae_projects``)."""
    return subprocess.Popen(
        ["/usr/bin/storescu", "-v", "-aet", calling, "-aec", PROJECT, "127.0.0.1", str(port)]
        + [str(f) for f in files],
        env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float = 120,
    explain: Callable[[], str] = str,
) -> T:
    """``probe``'s first answer that is not None, looking every 0.2 s; on a timeout the
    failure says ``what`` and what ``explain`` tells (the processes' logs)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{explain()}"
        time.sleep(0.2)


def archived(ctx: Context, sessions: int, instances: int) -> bool:
    """Whether the project holds ``sessions`` sessions and ``instances`` archived instances
    with nothing left in the prearchive."""
    with ctx.db.read() as db:
        held = db.scalar(
            select(func.count())
            .select_from(Session)
            .join(Project, Session.project_id == Project.id)
            .where(Project.label == PROJECT)
        )
        filed = db.scalar(
            select(func.count()).select_from(Instance).where(Instance.scan_id.is_not(None))
        )
        staged = db.scalar(select(func.count()).select_from(StagedSession))
    return held == sessions and filed == instances and staged == 0


def duplicated_instances(ctx: Context) -> list[str]:
    """SOP Instance UIDs catalogued more than once."""
    with ctx.db.read() as db:
        return list(
            db.scalars(
                select(Instance.SOPInstanceUID)
                .group_by(Instance.SOPInstanceUID)
                .having(func.count() > 1)
            )
        )


def finished_jobs(ctx: Context, count: int) -> list[Job] | None:
    """The project's jobs once there are ``count`` and all have ended."""
    with ctx.db.read() as db:
        found = list(db.scalars(select(Job).order_by(Job.id)))
    if len(found) == count and all(j.finished_at is not None for j in found):
        return found
    return None


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
