"""Validation of a released version (docs/dataset-access.md, "Validation"): queued at
release, run as a job, a report per check with itemised problems; each kind of failure
caught: an instance not de-identified, a missing required clinical variable, a subject
with no images, a file changed on disk."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.catalog.datasets import DatasetEvent, DatasetVersion
from scandepot.context import Context
from scandepot.datasets import validation
from scandepot.dicom.synthetic import Study
from tests import saved_world
from tests.datasets.released import (
    Archived,
    Released,
    archive_script,
    archive_study,
    release,
    run_jobs,
)


def _validate(ctx: Context, made: Released) -> dict[str, Any]:
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None
        validation.start(db, version)
        assert version.validation == "pending"
    assert run_jobs(ctx) == ["succeeded"]
    with ctx.db.read() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None
        return {"validation": version.validation, **(version.validation_report or {})}


@pytest.fixture
def clean(ctx: Context, make_project: Any) -> list[Archived]:
    """Two de-identified sessions of two subjects in project P001 (archive script); built
    once per test process and catalog, then put back (tests/saved_world.py)."""
    return saved_world.kept(ctx, "datasets-clean", lambda: archive_two(ctx, make_project))


def archive_two(ctx: Context, make_project: Any) -> list[Archived]:
    project = make_project()
    archive_script(ctx, project)
    return [
        archive_study(ctx, project, Study(PatientName=f"Doe^P{n}", PatientID=f"PID{n}"))
        for n in (1, 2)
    ]


def test_a_clean_release_passes(ctx: Context, clean: list[Archived]) -> None:
    made = release(ctx, clean)
    found = _validate(ctx, made)
    assert found["validation"] == "passed", found
    assert found["files_checked"] == found["files_total"] == 8
    for name, check in found["checks"].items():
        assert check["outcome"] == "passed" and check["problems"] == 0, name
    assert found["checks"]["deidentified"]["checked"] == 8
    assert "cursor" not in found
    with ctx.db.read() as db:
        steps = db.scalars(select(DatasetEvent.action)).all()
    assert steps == ["validation_finished"]


def _check(found: dict[str, Any], name: str) -> dict[str, Any]:
    check: dict[str, Any] = found["checks"][name]
    return check


def test_an_instance_not_deidentified_fails(
    ctx: Context, clean: list[Archived], make_project: Any
) -> None:
    raw = archive_study(
        ctx, make_project(label="RAW"), Study(PatientName="Roe^Richard", PatientID="RR1")
    )
    found = _validate(ctx, release(ctx, [*clean, raw]))
    assert found["validation"] == "failed"
    deid = _check(found, "deidentified")
    assert deid["outcome"] == "failed" and deid["problems"] == 4 and deid["checked"] == 12
    assert {i["path"].split("/")[0] for i in deid["items"]} == {raw.project}
    assert all("Patient Identity Removed is not YES" in i["reason"] for i in deid["items"])
    # The reason names the attribute; no value of the instance (paths hold labels).
    assert not any("Roe" in i["reason"] or "RR1" in i["reason"] for i in deid["items"])
    for other in ("clinical", "images", "checksums"):
        assert _check(found, other)["outcome"] == "passed", other


def test_an_original_the_pseudonym_table_knows_fails(ctx: Context, make_project: Any) -> None:
    """Marked de-identified by whoever sent it, yet an original Patient ID the project's
    pseudonym table maps its pseudonym to is left in a comment: deid's verification finds
    it, and the report names the attribute, not the value."""
    from scandepot.catalog.archive import Project
    from scandepot.catalog.deid import Pseudonym

    project = make_project()
    sent = archive_study(
        ctx,
        project,
        Study(PatientName="SUBJ-07", PatientID="SUBJ-07"),
        series=1,
        per_series=1,
        PatientIdentityRemoved="YES",
        ImageComments="follow-up of HOSP-4471",
    )
    with ctx.db.write() as db:
        project_id = db.scalar(select(Project.id).where(Project.label == project))
        db.add(
            Pseudonym(project_id=project_id, kind="ptid", original="HOSP-4471", pseudonym="SUBJ-07")
        )
    found = _validate(ctx, release(ctx, [sent]))
    deid = _check(found, "deidentified")
    assert deid["problems"] == 1, deid
    assert (
        "(0020,4000) ImageComments: holds an original identifying value"
        in deid["items"][0]["reason"]
    )
    assert "HOSP-4471" not in str(found)


def test_a_missing_required_clinical_variable_fails(ctx: Context, clean: list[Archived]) -> None:
    from scandepot.clinical import records, schemas
    from scandepot.clinical.records import Target

    project = clean[0].project
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"age": {"type": "integer"}, "group": {"type": "string"}},
    }
    schemas.save(ctx, SYSTEM, project, "subject", schema)
    records.put(ctx, SYSTEM, Target(project, clean[0].subject), {"age": 61, "group": "AD"})
    records.put(ctx, SYSTEM, Target(project, clean[1].subject), {"age": 70})
    # Required from version 2 on: the records written before stay as they were.
    schemas.save(ctx, SYSTEM, project, "subject", {**schema, "required": ["age", "group"]})
    found = _validate(ctx, release(ctx, clean))
    assert found["validation"] == "failed"
    clinical = _check(found, "clinical")
    assert clinical["checked"] == 4 and clinical["problems"] == 1  # 2 subjects, 2 sessions
    (item,) = clinical["items"]
    assert item["subject"].startswith(f"{clean[1].subject} (SD_S")
    assert item["reason"] == "missing required variable(s): group"


def test_a_subject_with_no_images_fails(
    ctx: Context, clean: list[Archived], make_project: Any
) -> None:
    from scandepot.archive import subjects
    from scandepot.archive.subjects import SubjectCreate

    project = clean[0].project
    subjects.create(ctx, SYSTEM, project, SubjectCreate(label="NOIMAGES"))
    empty = Archived(project, "NOIMAGES", "")
    found = _validate(ctx, release(ctx, clean, subjects=(empty,)))
    assert found["validation"] == "failed"
    images = _check(found, "images")
    assert images["problems"] == 1, images
    assert images["items"][0]["subject"].startswith("NOIMAGES (SD_S")
    assert images["items"][0]["reason"] == "the subject has no images"


@pytest.mark.parametrize("whole", [True, False])
def test_a_file_changed_on_disk_fails(
    ctx: Context, clean: list[Archived], whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a file is read whole into memory or (``whole`` False, as a large one)
    hashed a piece at a time and its header read apart."""
    from scandepot.catalog.datasets import DatasetFile
    from scandepot.datasets import validation_files

    if not whole:
        monkeypatch.setattr(validation_files, "WHOLE", 0)
    made = release(ctx, clean)
    with ctx.db.read() as db:
        paths = db.scalars(
            select(DatasetFile.path).where(DatasetFile.version_id == made.version_id)
        ).all()
    root = ctx.store.archive
    changed = sorted(root.rglob("*.dcm"))[:2]
    data = bytearray(changed[0].read_bytes())
    data[-1] ^= 0xFF  # the same size, other bytes
    changed[0].write_bytes(bytes(data))
    grown = changed[1].read_bytes()
    changed[1].write_bytes(grown + b"\0\0")
    found = _validate(ctx, made)
    sums = _check(found, "checksums")
    assert found["validation"] == "failed" and sums["problems"] == 2, sums
    reasons = {i["reason"] for i in sums["items"]}
    assert "its SHA-256 differs from the manifest's" in reasons
    assert f"{len(grown) + 2} bytes, the manifest says {len(grown)}" in reasons
    assert {i["path"] for i in sums["items"]} <= set(paths)
    assert _check(found, "deidentified")["problems"] == 0  # headers read either way
    assert _check(found, "deidentified")["checked"] == 8


class Killed(BaseException):
    """The worker's process dies: nothing of the job's own handling runs."""


def test_a_killed_job_goes_on_where_it_stopped(
    ctx: Context, clean: list[Archived], monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from sqlalchemy import update

    from scandepot.catalog.pipelines import Job
    from scandepot.datasets import manifest_rows, validation_files
    from scandepot.pipelines import queue, runner

    made = release(ctx, clean)
    monkeypatch.setattr(manifest_rows, "PAGE", 3)
    monkeypatch.setattr(validation, "CHECKPOINT_S", 0.0)
    read, check_page = validation_files.read, validation_files.check_page
    opened: list[object] = []
    pages: list[int] = []

    def counted(path: Any, size: int, *, dicom: bool) -> Any:
        opened.append(path)
        return read(path, size, dicom=dicom)

    def dies_on_the_third_page(rows: Any, deid: Any, progress: Any) -> None:
        if len(pages) == 2:
            raise Killed()
        pages.append(len(rows))
        check_page(rows, deid, progress)

    monkeypatch.setattr(validation_files, "read", counted)
    monkeypatch.setattr(validation_files, "check_page", dies_on_the_third_page)
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None
        validation.start(db, version)
    ((job_id, token),) = queue.claim_next(ctx, "test", 1)
    with pytest.raises(Killed):
        runner.execute(
            ctx, job_id, token, pipelines={validation.TASK: validation.run}, dispatch=print
        )
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None and version.validation == "pending"
        assert version.validation_report is not None
        assert version.validation_report["files_checked"] == 6
        assert version.validation_report["checks"]["checksums"]["outcome"] == "running"
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        db.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=long_ago))
    assert queue.requeue_stale(ctx) == [job_id]  # the queue takes it again
    monkeypatch.setattr(validation_files, "check_page", check_page)
    assert run_jobs(ctx) == ["succeeded"]
    assert len(opened) == 8  # six files before the kill, the last two after: none twice
    with ctx.db.read() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None and version.validation == "passed"
        report = version.validation_report or {}
        steps = db.scalars(select(DatasetEvent.action)).all()
    assert report["files_checked"] == 8 and report["checks"]["deidentified"]["checked"] == 8
    assert steps == ["validation_finished"]
    assert run_jobs(ctx) == []  # nothing left; a second run would change nothing


def test_the_report_is_for_owners_and_curators(
    ctx: Context, clean: list[Archived], users: Any
) -> None:
    from scandepot.access.users import actor_for
    from scandepot.catalog.datasets import VersionState
    from scandepot.errors import Forbidden

    made = release(ctx, clean, state=VersionState.PUBLISHED)
    _validate(ctx, made)
    with ctx.db.write() as db:
        users["member"].is_curator = True
        db.merge(users["member"])
    for who in ("owner", "member", "admin"):
        found = validation.report(ctx, actor_for(users[who]), made.dataset, 1)
        assert found["validation"] == "passed" and found["report"]["checks"], who
    with pytest.raises(Forbidden):  # sees the published version, not its validation
        validation.report(ctx, actor_for(users["outsider"]), made.name, 1)


def test_a_release_without_files_fails_at_once(ctx: Context, make_project: Any) -> None:
    """Release refuses an empty dataset; were one released all the same, its validation
    would not wait for a job that has nothing to read."""
    made = release(ctx, [])
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None
        validation.start(db, version)
    assert run_jobs(ctx) == []
    with ctx.db.read() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None and version.validation == "failed"
        report = version.validation_report or {}
    assert report["checks"]["checksums"]["items"] == [
        {"path": "", "reason": "the release holds no files"}
    ]


def test_run_again_after_its_job_was_cancelled_and_a_fix(
    ctx: Context, clean: list[Archived], users: Any
) -> None:
    """A project member cancels the job: the validation stays pending and says so; an
    owner completes the clinical records and runs it again, which passes."""
    from scandepot.access.users import actor_for
    from scandepot.catalog.datasets import VersionState
    from scandepot.catalog.pipelines import Job
    from scandepot.clinical import records, schemas
    from scandepot.clinical.records import Target
    from scandepot.errors import Conflict
    from scandepot.pipelines import jobs

    project, owner = clean[0].project, actor_for(users["owner"])
    schema: dict[str, Any] = {"type": "object", "properties": {"age": {"type": "integer"}}}
    schemas.save(ctx, SYSTEM, project, "subject", {**schema, "required": ["age"]})
    made = release(ctx, clean)
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None
        validation.start(db, version)
        job_id = (version.validation_report or {})["job"]
    with pytest.raises(Conflict, match="runs already"):
        validation.again(ctx, owner, made.dataset, 1)
    with ctx.db.read() as db:
        job = db.get(Job, job_id)
        assert job is not None and job.target == f"dataset {made.dataset} v1"
    jobs.cancel(ctx, actor_for(users["member"]), project, job_id)
    found = validation.report(ctx, owner, made.dataset, 1)
    assert found["validation"] == "pending" and found["job"]["status"] == "cancelled"
    for one in clean:
        records.put(ctx, SYSTEM, Target(project, one.subject), {"age": 50})
    again = validation.again(ctx, owner, made.dataset, 1)
    assert again["validation"] == "pending" and again["job"]["id"] != job_id
    assert run_jobs(ctx) == ["succeeded"]
    assert validation.report(ctx, owner, made.dataset, 1)["validation"] == "passed"
    with ctx.db.write() as db:
        version = db.get(DatasetVersion, made.version_id)
        assert version is not None
        version.state = VersionState.VALIDATED.value
        steps = db.scalars(select(DatasetEvent.action).order_by(DatasetEvent.id)).all()
    assert steps == ["validation_started", "validation_finished"]
    with pytest.raises(Conflict, match="only a released version"):
        validation.again(ctx, owner, made.dataset, 1)
