"""Jobs end to end in the test's process: auto-launch, outputs, bad input, re-run,
cancel, interrupted runners."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, update

from scandepot.access.actors import SYSTEM
from scandepot.archive import files
from scandepot.archive.check import check
from scandepot.archive.resources import OwnerRef
from scandepot.catalog.paging import PageRequest
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.context import Context
from scandepot.errors import Conflict, Invalid
from scandepot.events import JobFinished
from scandepot.pipelines import autolaunch, jobs, queue, wiring
from scandepot.pipelines.jobrun import JobRun
from scandepot.pipelines.jobs import LaunchRequest
from tests.pipelines.conftest import ArchiveFn, enable, run_queued
from tests.pipelines.dicom import write_series


def listing(ctx: Context, scan: str, resource: str) -> list[str]:
    page = files.list_files(
        ctx, SYSTEM, OwnerRef("PIPE", session="E1", scan=scan), resource, PageRequest()
    )
    return [f.path for f in page.items]


def resource_dir(ctx: Context, scan: str, resource: str) -> Path:
    return (
        ctx.store.archive / f"PIPE/subjects/S1/sessions/E1/scans/{scan}/resources/{resource}/files"
    )


def no_work_folders(ctx: Context) -> bool:
    return not any(p.name.startswith("job-") for p in ctx.store.tmp.iterdir())


@pytest.mark.interop
def test_auto_launch_gives_every_archived_session_nifti_snapshots_and_metrics(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    wiring.install(ctx)
    finished: list[JobFinished] = []
    ctx.events.subscribe(JobFinished, finished.append)
    event = archive({"1": synthetic["t1"], "2": synthetic["bold"]})
    enable(ctx, "PIPE", "dcm2niix", "qa", "snapshots")
    ctx.events.publish(event)

    queued = jobs.list_jobs(ctx, SYSTEM, "PIPE", PageRequest(sort="id")).items
    assert [(j.pipeline, j.status, j.launched_by) for j in queued] == [
        ("dcm2niix", "queued", "system"),
        ("qa", "queued", "system"),
        ("snapshots", "queued", "system"),
    ]
    assert queued[1].after_job_id == queued[0].id == queued[2].after_job_id
    # QA and snapshots wait for the NIfTI: only dcm2niix can be claimed now.
    assert queue.claimable_ids(ctx, 10) == [queued[0].id]

    assert run_queued(ctx) == [JobStatus.SUCCEEDED] * 3
    assert [(e.pipeline, e.status) for e in finished] == [
        ("dcm2niix", "succeeded"),
        ("qa", "succeeded"),
        ("snapshots", "succeeded"),
    ]
    assert listing(ctx, "1", "QA") == ["1_T1w_mask.png", "1_T1w_qa.json"]
    assert listing(ctx, "2", "QA") == ["2_bold_mask.png", "2_bold_qa.json", "2_bold_timeseries.png"]
    assert listing(ctx, "1", "SNAPSHOTS") == ["1_T1w.png"]
    assert listing(ctx, "2", "SNAPSHOTS") == ["2_bold.png"]

    t1 = json.loads((resource_dir(ctx, "1", "QA") / "1_T1w_qa.json").read_text())
    assert t1["kind"] == "structural" and t1["shape"] == [32, 40, 12]
    # The phantom: 1100 inside, air at 100 with noise of SD 20 (rounded to integers).
    assert t1["metrics"]["snr"] == pytest.approx(55, rel=0.1)
    bold = json.loads((resource_dir(ctx, "2", "QA") / "2_bold_qa.json").read_text())
    assert bold["kind"] == "functional" and bold["metrics"]["volumes"] == 8
    assert bold["metrics"]["tsnr"] == pytest.approx(55, rel=0.15)
    assert len(bold["metrics"]["series"]["dvars"]) == 7
    png = (resource_dir(ctx, "2", "SNAPSHOTS") / "2_bold.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")

    qa_job = jobs.get(ctx, SYSTEM, "PIPE", queued[1].id)
    assert qa_job.versions.keys() >= {"numpy", "scipy", "nibabel", "scandepot"}
    assert qa_job.outputs["files"]  # where each output folder went
    assert check(ctx).ok and no_work_folders(ctx)


def test_disabled_or_manual_pipelines_do_not_auto_launch(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    wiring.install(ctx)
    event = archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    ctx.events.publish(event)
    assert jobs.list_jobs(ctx, SYSTEM, "PIPE", PageRequest()).total == 0
    with pytest.raises(Conflict, match="'qa' is not enabled"):
        jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("qa"))


def upload_nifti(ctx: Context, scan: str, name: str, data: bytes) -> None:
    with ctx.store.stage() as staged:
        staged.write(data)
        files.commit_upload(
            ctx, SYSTEM, OwnerRef("PIPE", session="E1", scan=scan), "NIFTI", name, staged
        )


@pytest.mark.interop
def test_bad_input_fails_the_job_with_a_clear_message_and_leaves_nothing(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]], tmp_path: Path
) -> None:
    tiny = write_series(tmp_path / "tiny", np.full((6, 6, 4), 500, dtype=np.uint16))
    archive({"1": synthetic["t1"], "2": tiny})
    enable(ctx, "PIPE", "dcm2niix", "qa", auto=False)
    jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    assert run_queued(ctx) == [JobStatus.SUCCEEDED]
    # A corrupt NIfTI beside a good one: the scan's job fails, and publishes nothing.
    upload_nifti(ctx, "1", "broken.nii.gz", b"\x1f\x8b this is not a NIfTI")
    corrupt = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("qa"), scan="1")
    small = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("qa"), scan="2")
    assert run_queued(ctx) == [JobStatus.FAILED, JobStatus.FAILED]

    corrupt = jobs.get(ctx, SYSTEM, "PIPE", corrupt.id)
    assert corrupt.message.startswith("Cannot read broken.nii.gz")
    assert "Cannot read broken.nii.gz" in corrupt.log and corrupt.finished_at is not None
    small = jobs.get(ctx, SYSTEM, "PIPE", small.id)
    assert "too small to mask (6x6x4" in small.message
    for scan in ("1", "2"):
        assert not resource_dir(ctx, scan, "QA").exists()
        with pytest.raises(Exception, match="Resource 'QA' not found"):
            listing(ctx, scan, "QA")
    assert check(ctx).ok and no_work_folders(ctx)


def test_parameters_out_of_range_are_refused_before_anything_runs(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    with pytest.raises(Invalid) as refused:
        jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix", {"timeout_s": 1}))
    assert refused.value.field == "parameters.timeout_s"
    with pytest.raises(Invalid, match="parameters.nope"):
        enable(ctx, "PIPE", "qa", nope=1)
    assert jobs.list_jobs(ctx, SYSTEM, "PIPE", PageRequest()).total == 0


@pytest.mark.interop
def test_rerun_replaces_the_previous_outputs(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    first = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    run_queued(ctx)
    assert listing(ctx, "1", "NIFTI") == ["1_T1w.json", "1_T1w.nii.gz"]
    enable(ctx, "PIPE", "dcm2niix", auto=False, filename="run2_%s")
    other = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    run_queued(ctx)
    assert listing(ctx, "1", "NIFTI") == ["run2_1.json", "run2_1.nii.gz"]
    again = jobs.rerun(ctx, SYSTEM, "PIPE", first.id)
    assert again.rerun_of == first.id and again.parameters == first.parameters
    assert run_queued(ctx) == [JobStatus.SUCCEEDED]
    assert listing(ctx, "1", "NIFTI") == ["1_T1w.json", "1_T1w.nii.gz"]
    assert sorted(p.name for p in resource_dir(ctx, "1", "NIFTI").iterdir()) == [
        "1_T1w.json",
        "1_T1w.nii.gz",
    ]
    with pytest.raises(Conflict):
        jobs.cancel(ctx, SYSTEM, "PIPE", other.id)
    assert check(ctx).ok


def test_cancel_a_queued_job_and_its_dependents(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    event = archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", "qa")
    made = autolaunch.auto_launch(ctx, event)
    jobs.cancel(ctx, SYSTEM, "PIPE", made[0].id)
    ended = {j.pipeline: j for j in jobs.list_jobs(ctx, SYSTEM, "PIPE", PageRequest()).items}
    assert ended["dcm2niix"].status == "cancelled"
    assert ended["qa"].status == "cancelled"
    assert "depends on cancelled" in ended["qa"].message
    assert run_queued(ctx) == []


def slow_pipeline(run: JobRun) -> None:
    run.log("working")
    out = run.folder("out")
    (out / "partial.txt").write_text("half")
    run.publish(out, "NIFTI", run.targets[0], "NIFTI", "test")
    for _ in range(400):
        run.check()
        time.sleep(0.01)


def test_cancel_a_running_job_stops_it_without_outputs(
    ctx: Context,
    archive: ArchiveFn,
    synthetic: dict[str, list[Path]],
) -> None:
    ctx.settings = ctx.settings.model_copy(update={"pipeline_heartbeat_s": 0.05})
    archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    job = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    outcome: list[JobStatus] = []
    worker = threading.Thread(
        target=lambda: outcome.extend(run_queued(ctx, pipelines={"dcm2niix": slow_pipeline}))
    )
    worker.start()
    deadline = time.monotonic() + 10
    while jobs.get(ctx, SYSTEM, "PIPE", job.id).status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert jobs.cancel(ctx, SYSTEM, "PIPE", job.id).cancel_requested
    worker.join(timeout=10)
    assert outcome == [JobStatus.CANCELLED]
    record = jobs.get(ctx, SYSTEM, "PIPE", job.id)
    assert record.message == "Cancelled while running." and "working" in record.log
    assert not resource_dir(ctx, "1", "NIFTI").exists() and no_work_folders(ctx)


@pytest.mark.interop
def test_a_silent_runner_loses_its_job_and_cannot_finish_it(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    job = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    [(job_id, old_token)] = queue.claim_next(ctx, "gone", 1)
    assert queue.claim(ctx, job_id, "second") is None  # one claim at a time
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with ctx.db.write() as db:
        db.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=long_ago))
    assert queue.requeue_stale(ctx) == [job_id]
    record = jobs.get(ctx, SYSTEM, "PIPE", job.id)
    assert record.status == "queued" and "Interrupted (no heartbeat from gone" in record.message
    assert not queue.heartbeat(ctx, job_id, old_token)  # the old runner is told to stop
    assert run_queued(ctx) == [JobStatus.SUCCEEDED]
    assert jobs.get(ctx, SYSTEM, "PIPE", job.id).attempts == 2


def test_a_job_interrupted_too_often_fails(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    for _ in range(ctx.settings.pipeline_max_attempts):
        [(job_id, _token)] = queue.claim_next(ctx, "crashy", 1)
        with ctx.db.write() as db:
            db.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=long_ago))
        queue.requeue_stale(ctx)
    with ctx.db.read() as db:
        record = db.scalars(select(Job)).one()
    assert record.status == "failed" and "Failed after 3 attempts" in record.message
