"""What the tests of datasets share:

- a small world (``world``): projects A and B (private; the usual owner, member and
  collaborator), project C that only the owner reads, each subject with a session, a scan
  and files; a curator; a mail server for the owners' messages;
- a real archived cohort for the catalogue's tests (``cohort``): twelve subjects received
  as DICOM and archived like any upload, one of them with a second (CT) session, and their
  clinical records;
- a published release of two de-identified sessions owned by the ``owner`` account
  (``published``, written by tests/datasets/released.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from scandepot.access import roles
from scandepot.access.actors import SYSTEM, Actor
from scandepot.access.users import actor_for
from scandepot.archive import files, projects, scans, sessions, subjects
from scandepot.archive.projects import ProjectCreate
from scandepot.archive.resources import OwnerRef
from scandepot.archive.scans import ScanCreate
from scandepot.archive.sessions import SessionCreate
from scandepot.archive.subjects import SubjectCreate
from scandepot.catalog.access import Role, User
from scandepot.catalog.archive import Session
from scandepot.catalog.datasets import DatasetVersion, ValidationState, VersionState
from scandepot.clinical import records, schemas
from scandepot.clinical.records import Target
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import worker
from tests import saved_world
from tests.datasets import published as published_rows
from tests.datasets.released import Released, archive_script, archive_study, release
from tests.notify.mailserver import MailServer

PROJECT = "Cohort01"
STUDY_DATE = "20240301"
# Subject number -> (Patient's Sex, Patient's Birth Date): seven F and five M; ages at the
# study 34 (six), 44 (five) and 71 (one).
PEOPLE = {
    n: ("F" if n <= 7 else "M", "19900101" if n <= 6 else "19800101" if n <= 11 else "19530101")
    for n in range(1, 13)
}
SCHEMA = {
    "type": "object",
    "properties": {
        "diagnosis": {"type": "string", "enum": ["AD", "MCI", "HC"], "title": "Diagnosis"},
        "weight": {"type": "number", "x-unit": "kg"},
        "notes": {"type": "string", "x-identifying": True},
        "diagnosis_date": {"type": "string", "format": "date"},
        "site_comment": {"type": "string"},
    },
}


@dataclass(frozen=True)
class Cohort:
    project: str
    session_ids: list[int]
    # What the public must never see of it: labels, UIDs, names, dates, clinical text.
    secrets: list[str]


def receive_study(
    ctx: Context,
    subject: str,
    session: str,
    *,
    sex: str,
    birth: str,
    modality: str = "MR",
    instances: int = 3,
) -> tuple[str, str]:
    study = Study(PatientName=f"Name^{subject}", PatientID=f"PID-{subject}", StudyDate=STUDY_DATE)
    series = Series(1, f"{modality} series of {subject}", modality)
    for k in range(1, instances + 1):
        ds = mr_instance(study, series, k, rows=16, columns=16)
        ds.PatientSex = sex
        ds.PatientBirthDate = birth
        with ctx.store.stage() as staged:
            staged.write(to_bytes(ds))
            receive(
                ctx, staged, Source("upload", project=PROJECT, subject=subject, session=session)
            )
    worker.run_once(ctx)
    return study.StudyInstanceUID, series.SeriesInstanceUID


@pytest.fixture
def cohort(ctx: Context, make_project: Callable[..., str]) -> Cohort:
    """Built once per test process and catalog, then put back (tests/saved_world.py)."""
    ctx.settings.prearchive_quiet_s = 0
    return saved_world.kept(ctx, "datasets-cohort", lambda: build_cohort(ctx, make_project))


def build_cohort(ctx: Context, make_project: Callable[..., str]) -> Cohort:
    make_project("private", label=PROJECT, upload_destination="archive")
    secrets = [PROJECT, STUDY_DATE, "2024-03-01", "1990", "1980", "1953"]
    for n, (sex, birth) in PEOPLE.items():
        subject = f"sub-{n:02d}"
        uids = receive_study(ctx, subject, f"ses-{n:02d}a", sex=sex, birth=birth)
        secrets += [subject, f"ses-{n:02d}a", f"Name^{subject}", f"PID-{subject}", *uids]
    uids = receive_study(
        ctx, "sub-01", "ses-01b", sex="F", birth=PEOPLE[1][1], modality="CT", instances=2
    )
    secrets += ["ses-01b", *uids]
    schemas.save(ctx, SYSTEM, PROJECT, "subject", SCHEMA)
    for n in PEOPLE:
        values = {
            "diagnosis": "AD" if n <= 6 else "HC",
            "weight": 55.0 + 2 * n,
            "notes": f"seen by Dr Secretname{n}",
            "diagnosis_date": "2023-11-17",
            "site_comment": f"freetext{n}",
        }
        records.put(ctx, SYSTEM, Target(PROJECT, f"sub-{n:02d}"), values)
        secrets += [f"Secretname{n}", f"freetext{n}"]
    secrets += ["2023-11-17", "Dr "]
    return Cohort(PROJECT, published_rows.session_ids(ctx, PROJECT), secrets)


@pytest.fixture
def published(ctx: Context, make_project: Any) -> Released:
    """Built once per test process and catalog, then put back (tests/saved_world.py)."""
    return saved_world.kept(ctx, "datasets-published", lambda: publish(ctx, make_project))


def publish(ctx: Context, make_project: Any) -> Released:
    project = make_project()
    archive_script(ctx, project)
    sessions = [
        archive_study(ctx, project, Study(PatientName=f"Doe^P{n}", PatientID=f"PID{n}"))
        for n in (1, 2)
    ]
    return release(ctx, sessions, state=VersionState.PUBLISHED)


@pytest.fixture
def people(users: dict[str, Any]) -> dict[str, Any]:
    """The actors of the ``users`` accounts, by login."""
    return {login: actor_for(user) for login, user in users.items()}


@dataclass
class World:
    ctx: Context
    people: dict[str, Actor]

    def __getitem__(self, name: str) -> Actor:
        return self.people[name]

    def session_id(self, label: str) -> str:
        with self.ctx.db.read() as db:
            found = db.scalar(select(Session.stable_id).where(Session.label == label))
        assert found is not None
        return found


def put_file(ctx: Context, ref: OwnerRef, path: str, data: bytes, **kwargs: object) -> None:
    with ctx.store.stage() as staged:
        staged.write(data)
        files.commit_upload(ctx, SYSTEM, ref, "DICOM", path, staged, **kwargs)  # type: ignore[arg-type]


def fill(ctx: Context, project: str, subject: str, session: str, count: int = 2) -> None:
    subjects.create(ctx, SYSTEM, project, SubjectCreate(label=subject))
    sessions.create(ctx, SYSTEM, project, SessionCreate(label=session, subject=subject))
    scans.create(ctx, SYSTEM, project, session, ScanCreate(id="1"))
    for n in range(count):
        ref = OwnerRef(project, session=session, scan="1")
        put_file(ctx, ref, f"{n}.dcm", f"{project}/{session}/{n}".encode())


@pytest.fixture
def world(
    ctx: Context, users: dict[str, User], make_project: Callable[..., str], password_hash: str
) -> World:
    """Built once per test process and catalog, then put back (tests/saved_world.py)."""
    saved_world.kept(ctx, "datasets-world", lambda: build_world(ctx, make_project, password_hash))
    with ctx.db.read() as db:
        people = {u.login: actor_for(u) for u in db.scalars(select(User))}
    return World(ctx, people)


def build_world(ctx: Context, make_project: Callable[..., str], password_hash: str) -> None:
    for label in ("A", "B"):
        make_project(label=label)
    projects.create(ctx, SYSTEM, ProjectCreate(id="C"))
    roles.set_role(ctx, SYSTEM, "C", "owner", Role.OWNER)
    fill(ctx, "A", "S1", "E1")
    fill(ctx, "A", "S2", "E2")
    fill(ctx, "B", "S3", "E3", count=3)
    fill(ctx, "C", "S4", "E4")
    with ctx.db.write() as db:
        db.add(
            User(
                login="curator",
                full_name="Curator",
                email="curator@example.org",
                password_hash=password_hash,
                is_curator=True,
            )
        )


def validation_passes(ctx: Context, dataset: str, number: int) -> None:
    """What the validation job records when a version passes (the job is not this part's)."""
    from scandepot.catalog.datasets import Dataset

    with ctx.db.write() as db:
        found = db.scalar(select(Dataset.id).where(Dataset.stable_id == dataset))
        db.execute(
            update(DatasetVersion)
            .where(DatasetVersion.dataset_id == found, DatasetVersion.number == number)
            .values(validation=ValidationState.PASSED)
        )


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[MailServer]:
    server = MailServer(tmp_path).start()
    yield server
    server.stop()
