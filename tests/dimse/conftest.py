"""An archive with a private and a public project, each holding a study, and the DICOM
nodes that map calling AE titles to an account, a project, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.access import User
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.dicomnodes import nodes
from scandepot.dicomnodes.nodes import NodeCreate
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import operations


@dataclass
class Archived:
    study: Study
    series: list[Series]
    files: dict[str, bytes] = field(default_factory=dict)  # SOP Instance UID -> as sent


@dataclass
class World:
    private: Archived  # in PRIV: Doe^Jane, two series of two instances
    public: Archived  # in PUB: Roe^Richard, one series of two instances


def archive(ctx: Context, project: str, study: Study, series: list[Series]) -> Archived:
    """Two instances a series, received and archived into ``project`` like any upload."""
    done = Archived(study, series)
    for one in series:
        for number in (1, 2):
            ds = mr_instance(study, one, number, rows=16, columns=16)
            done.files[str(ds.SOPInstanceUID)] = to_bytes(ds)
    archive_files(ctx, project, study.StudyInstanceUID, list(done.files.values()))
    return done


def archive_files(ctx: Context, project: str, study: str, files: list[bytes]) -> None:
    """DICOM files of one study, received and archived into ``project``."""
    for data in files:
        with ctx.store.stage() as staged:
            staged.write(data)
            receive(ctx, staged, Source("upload", project=project))
    with ctx.db.read() as db:
        held = db.scalar(select(StagedSession.id).where(StagedSession.StudyInstanceUID == study))
    assert held is not None
    operations.archive(ctx, SYSTEM, held)


@pytest.fixture
def world(ctx: Context, make_project: Callable[..., str], users: dict[str, User]) -> World:
    make_project("private", label="PRIV")
    make_project("public", label="PUB")
    private = archive(
        ctx,
        "PRIV",
        Study(PatientName="Doe^Jane", PatientID="PAT001", StudyDate="20240101"),
        [Series(1, "T1w"), Series(2, "rest BOLD")],
    )
    public = archive(
        ctx,
        "PUB",
        Study(PatientName="Roe^Richard", PatientID="PAT002", StudyDate="20240315"),
        [Series(1, "T2w")],
    )
    for title, login, project in (
        ("WS_OWNER", "owner", None),
        ("WS_OUTSIDER", "outsider", None),
        ("WS_PRIV", None, "PRIV"),
    ):
        nodes.add(ctx, SYSTEM, NodeCreate(ae_title=title, login=login, project=project))
    return World(private, public)
