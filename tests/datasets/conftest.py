"""What the tests of datasets share: a real archived cohort for the catalogue's tests
(twelve subjects received as DICOM and archived like any upload, one of them with a second
(CT) session, and their clinical records), and a published release of two de-identified
sessions owned by the ``owner`` account (tests/datasets/released.py writes it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from scandepot.access.actors import SYSTEM
from scandepot.access.users import actor_for
from scandepot.catalog.datasets import VersionState
from scandepot.clinical import records, schemas
from scandepot.clinical.records import Target
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.ingest.receive import Source, receive
from scandepot.prearchive import worker
from tests.datasets import published as published_rows
from tests.datasets.released import Released, archive_script, archive_study, release

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
    ctx.settings.prearchive_quiet_s = 0
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
