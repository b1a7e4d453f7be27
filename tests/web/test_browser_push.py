"""Pushing a session to a reference node in a real browser: tick it, choose Push…, pick the
destination, and watch the push's page until its report says every instance was verified
on the far side, a real Orthanc that received them by STOW-RS, de-identified."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.catalog.archive import Project
from scandepot.catalog.pipelines import JobStatus
from scandepot.catalog.push import PushDestination, PushDestinationProject
from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from tests.export.deid_world import save_script
from tests.orthanc_peer import StartOrthanc
from tests.push.conftest import run_pushes
from tests.web.conftest import receive_study, screenshot, sign_in

pytestmark = pytest.mark.interop


@pytest.fixture
def backend() -> str:
    """The browser tests run on the embedded catalog; tests/push covers both."""
    return "sqlite"


def _destination(ctx: Context, project: str, url: str) -> None:
    with ctx.db.write() as db:
        dest = PushDestination(
            name="central", kind="dicomweb", url=url, description="the reference node",
            created_by="admin",
        )  # fmt: skip
        db.add(dest)
        db.flush()
        project_id = db.scalar(select(Project.id).where(Project.label == project))
        db.add(
            PushDestinationProject(destination_id=dest.id, project_id=project_id, created_by="a")
        )


def test_push_a_session_from_the_project_page(
    page: Any, ctx: Context, make_project: Callable[..., str], start_orthanc: StartOrthanc
) -> None:
    orthanc = start_orthanc()
    make_project("private", label="Brain01", upload_destination="archive")
    save_script(ctx, "Brain01", text='{"options": []}', kind="profile")
    study = Study(PatientName="Doe^Jane", PatientID="MRN-4471")
    receive_study(ctx, "Brain01", subject="sub-01", session="ses-01", study=study, slices=4)
    _destination(ctx, "Brain01", orthanc.dicomweb_url)
    sign_in(page, "owner", start="/projects/Brain01")

    page.get_by_label("Choose ses-01").check()
    page.get_by_role("button", name="Push…").click()
    page.get_by_role("heading", name="Push from Brain01").wait_for()
    page.get_by_label("Destination", exact=True).select_option("central")
    screenshot(page, "push-form")
    page.get_by_role("button", name="Push", exact=True).click()

    page.get_by_text("Push 1 is queued.").wait_for()
    assert page.get_by_role("button", name="Cancel").is_visible()
    assert run_pushes(ctx) == [JobStatus.SUCCEEDED]
    page.get_by_text("8 of 8 instance(s) verified on the far side").wait_for()  # reloads
    assert page.get_by_role("button", name="Cancel").count() == 0
    screenshot(page, "push-report")

    arrived = orthanc.get("/instances").json()
    assert len(arrived) == 8
    tags = orthanc.get(f"/instances/{arrived[0]}/simplified-tags").json()
    assert tags["PatientID"] != "MRN-4471" and "Doe" not in tags.get("PatientName", "")
    assert tags["StudyInstanceUID"] != study.StudyInstanceUID
