"""A small world for datasets: projects A and B (private; the usual owner, member and
collaborator), project C that only the owner reads, each subject with a session, a scan
and files; a curator; a mail server for the owners' messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
from scandepot.catalog.datasets import DatasetVersion, ValidationState
from scandepot.context import Context
from tests.notify.mailserver import MailServer


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
    with ctx.db.read() as db:
        people = {u.login: actor_for(u) for u in db.scalars(select(User))}
    return World(ctx, people)


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
