"""Auto-launched pipelines on sessions that arrive series by series: what a merge added,
nothing when it added nothing, one launch once the session is complete, kept across a
restart."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from scandepot.access.actors import SYSTEM
from scandepot.archive import scans
from scandepot.archive.resources import OwnerRef
from scandepot.archive.scans import ScanCreate
from scandepot.catalog.pipelines import Job, JobStatus
from scandepot.cli.common import open_context
from scandepot.context import Context
from scandepot.events import SessionArchived
from scandepot.pipelines import autolaunch, jobs, queue, wiring
from scandepot.pipelines.jobs import LaunchRequest
from tests.conftest import PASSWORD
from tests.helpers import ADMIN, API
from tests.pipelines.conftest import ArchiveFn, enable, run_queued, upload

E1 = "PIPE/subjects/S1/sessions/E1"


def merge(ctx: Context, first: SessionArchived, label: str, paths: list[Path]) -> SessionArchived:
    """A series archived into the session later, as the prearchive merges it."""
    scans.create(
        ctx, SYSTEM, "PIPE", "E1", ScanCreate(id=label, SeriesNumber=int(label), Modality="MR")
    )
    upload(ctx, OwnerRef("PIPE", session="E1", scan=label), paths)
    return dataclasses.replace(first, scans=(label,), merged=True)


def all_jobs(ctx: Context) -> list[Job]:
    with ctx.db.read() as db:
        return list(db.scalars(select(Job).order_by(Job.id)))


def folder(ctx: Context, scan: str, resource: str) -> Path:
    return ctx.store.archive / f"{E1}/scans/{scan}/resources/{resource}/files"


def quiet_time_passes(ctx: Context) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with ctx.db.write() as db:
        db.execute(update(Job).where(Job.not_before.is_not(None)).values(not_before=past))


@pytest.mark.interop
def test_a_merge_that_adds_a_scan_runs_pipelines_on_that_scan_only(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    wiring.install(ctx)
    first = archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", "snapshots")
    ctx.events.publish(first)
    assert run_queued(ctx) == [JobStatus.SUCCEEDED] * 2
    # A published output folder is renamed into place: the same inode means untouched.
    before = {r: folder(ctx, "1", r).stat().st_ino for r in ("NIFTI", "SNAPSHOTS")}

    ctx.events.publish(merge(ctx, first, "2", synthetic["bold"]))
    added = all_jobs(ctx)[2:]
    assert [(j.pipeline, j.target) for j in added] == [
        ("dcm2niix", "E1, scans 2"),
        ("snapshots", "E1, scans 2"),
    ]
    assert run_queued(ctx) == [JobStatus.SUCCEEDED] * 2
    assert (folder(ctx, "2", "NIFTI") / "2_bold.nii.gz").is_file()
    assert (folder(ctx, "2", "SNAPSHOTS") / "2_bold.png").is_file()
    assert {r: folder(ctx, "1", r).stat().st_ino for r in ("NIFTI", "SNAPSHOTS")} == before
    log = jobs.get(ctx, SYSTEM, "PIPE", added[0].id).log
    assert "2_bold" in log and "1_T1w" not in log


def test_a_merge_that_adds_nothing_runs_nothing(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    wiring.install(ctx)
    first = archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", "qa", "snapshots")
    ctx.events.publish(first)
    assert len(all_jobs(ctx)) == 3
    # Only a kept copy (or copies already archived): the archiver names no scan.
    ctx.events.publish(dataclasses.replace(first, scans=(), merged=True))
    assert len(all_jobs(ctx)) == 3


@pytest.mark.interop
def test_series_within_the_quiet_time_postpone_one_launch_that_covers_them(
    ctx: Context,
    client: TestClient,
    users: object,
    archive: ArchiveFn,
    synthetic: dict[str, list[Path]],
) -> None:
    wiring.install(ctx)
    first = archive({"1": synthetic["t1"]}, complete_after_min=5)
    enable(ctx, "PIPE", "dcm2niix", "snapshots")
    ctx.events.publish(first)
    waiting = all_jobs(ctx)
    assert [(j.pipeline, j.status) for j in waiting] == [
        ("dcm2niix", "queued"),
        ("snapshots", "queued"),
    ]
    first_due = waiting[0].not_before
    assert first_due is not None and waiting[1].not_before == first_due
    in_five = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert abs((first_due - in_five).total_seconds()) < 30
    assert waiting[0].message == (
        f"Waiting until 5 minutes after the last series arrived, at {first_due:%H:%M} UTC."
    )
    assert queue.claimable_ids(ctx, 10) == [] and run_queued(ctx) == []

    ctx.events.publish(merge(ctx, first, "2", synthetic["bold"]))
    postponed = all_jobs(ctx)
    assert [j.id for j in postponed] == [j.id for j in waiting]  # no second launch
    assert all(j.target == "E1, scans 1, 2" for j in postponed)
    due = postponed[0].not_before
    assert due is not None and due > first_due

    # The API and the session page say that the pipelines wait, and until when.
    listed = client.get(f"{API}/projects/PIPE/jobs", auth=ADMIN).json()["items"]
    assert {j["waiting_until"] is not None for j in listed} == {True}
    assert "after the last series arrived" in listed[0]["message"]
    client.get("/login")
    client.post(
        "/login",
        data={
            "login": "admin",
            "password": PASSWORD,
            "login_token": client.cookies["scandepot_login"],
        },
    )
    page = client.get("/projects/PIPE/sessions/E1").text
    assert "Pipelines dcm2niix, snapshots wait for the session to be complete" in page
    assert f"at {due:%H:%M} UTC" in page

    quiet_time_passes(ctx)
    assert run_queued(ctx) == [JobStatus.SUCCEEDED] * 2
    assert len(all_jobs(ctx)) == 2
    for scan, image in (("1", "1_T1w"), ("2", "2_bold")):
        assert (folder(ctx, scan, "NIFTI") / f"{image}.nii.gz").is_file()
        assert (folder(ctx, scan, "SNAPSHOTS") / f"{image}.png").is_file()
    assert not any(j.message.startswith("Waiting") for j in all_jobs(ctx))


def test_a_series_after_the_launch_began_gets_a_launch_of_its_own(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    first = archive({"1": synthetic["t1"]})
    enable(ctx, "PIPE", "dcm2niix", "qa")
    made = autolaunch.auto_launch(ctx, first)
    assert queue.claim(ctx, made[0].id, "test") is not None  # dcm2niix runs, QA waits on it
    again = autolaunch.auto_launch(ctx, merge(ctx, first, "2", synthetic["bold"]))
    assert [(j.pipeline, j.target) for j in again] == [
        ("dcm2niix", "E1, scans 2"),
        ("qa", "E1, scans 2"),
    ]
    assert again[1].after_job_id == again[0].id
    assert [j.target for j in all_jobs(ctx)[:2]] == ["E1, scans 1"] * 2


@pytest.mark.interop
def test_a_restart_keeps_the_pending_launch(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    first = archive({"1": synthetic["t1"]}, complete_after_min=5)
    enable(ctx, "PIPE", "dcm2niix")
    autolaunch.auto_launch(ctx, first)
    due = all_jobs(ctx)[0].not_before

    # Another process on the same catalog and file store, as after a restart.
    restarted = open_context(ctx.settings, migrate=False)
    try:
        assert run_queued(restarted) == []  # still within the quiet time
        held = all_jobs(restarted)
        assert [(j.status, j.not_before) for j in held] == [("queued", due)]
        quiet_time_passes(restarted)
        assert run_queued(restarted) == [JobStatus.SUCCEEDED]
        assert (folder(restarted, "1", "NIFTI") / "1_T1w.nii.gz").is_file()
    finally:
        restarted.close()


def test_a_launch_by_hand_does_not_wait(
    ctx: Context, archive: ArchiveFn, synthetic: dict[str, list[Path]]
) -> None:
    archive({"1": synthetic["t1"]}, complete_after_min=5)
    enable(ctx, "PIPE", "dcm2niix", auto=False)
    job = jobs.launch(ctx, SYSTEM, "PIPE", "E1", LaunchRequest("dcm2niix"))
    assert job.not_before is None and queue.claimable_ids(ctx, 10) == [job.id]
