"""A dataset's whole life in a real browser (Debian's chromium, driven by Playwright): its
owner makes it, describes it and releases it; the validation runs; a curator validates it
from the queue; the owner publishes it; another user asks for access on its public page;
the owner approves; the download link the user then sees answers with the release."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.catalog.access import User
from scandepot.catalog.datasets import DatasetVersion
from scandepot.context import Context
from scandepot.dicom.synthetic import Study
from tests.datasets.released import archive_script, archive_study, run_jobs
from tests.web.conftest import screenshot, sign_in

pytestmark = pytest.mark.interop


@pytest.fixture
def backend() -> str:
    """Browser tests run on the embedded catalog; test_dataset_pages.py covers both."""
    return "sqlite"


def _validated_in_the_background(ctx: Context) -> str:
    """Run the release's validation job as a worker does; its outcome."""
    run_jobs(ctx)
    with ctx.db.read() as db:
        return str(db.scalar(select(DatasetVersion.validation)))


def test_a_dataset_from_draft_to_download(
    ctx: Context,
    users: dict[str, Any],
    password_hash: str,
    make_project: Any,
    page: Any,
    browser: Any,
    live_server: Any,
) -> None:
    project = make_project()  # the owner account owns it
    archive_script(ctx, project)
    held = archive_study(ctx, project, Study(PatientName="Doe^Jane", PatientID="PID1"))
    with ctx.db.write() as db:
        db.add(User(login="curator", password_hash=password_hash, is_curator=True))
    # The owner makes, describes, fills and releases it.
    sign_in(page, "owner")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My datasets").click()
    page.get_by_label("Name").fill("brain")
    page.get_by_label("Title").fill("Brain MRI")
    page.get_by_role("button", name="Create").click()
    page.get_by_text("is made: a draft").wait_for()
    form = page.get_by_role("form", name="Metadata of the draft")
    form.get_by_label("Description").fill("T1w of one volunteer.")
    form.get_by_label("Authors").fill("Ada Lovelace; Analytical Engines")
    form.get_by_label("Contact").fill("Data desk; ; not-an-email")
    form.get_by_label("Licence").fill("CC-BY-4.0")
    form.get_by_role("button", name="Save the metadata").click()
    page.locator("#err-contact").wait_for()  # the field is named beside it
    assert "metadata/contact/email" in page.locator("#err-contact").inner_text()
    page.get_by_role("form", name="Metadata of the draft").get_by_label("Contact").fill(
        "Data desk; ; desk@example.org"
    )
    page.get_by_role("button", name="Save the metadata").click()
    page.get_by_text("The draft's metadata is saved.").wait_for()
    page.get_by_label("Add sessions").fill(f"{held.project}/{held.session}")
    page.get_by_role("button", name="Save the members").click()
    page.get_by_text("The draft holds 1 member(s).").wait_for()
    page.get_by_role("button", name="Release version 1").click()
    page.get_by_text("Version 1 is released").wait_for()
    dataset = page.url.split("/my-datasets/")[1].split("#")[0]
    assert _validated_in_the_background(ctx) == "passed"
    screenshot(page, "dataset-manage")
    # A curator validates it from the queue, with the report in view.
    curator = browser.new_context(base_url=live_server.url).new_page()
    curator.on("dialog", lambda dialog: dialog.accept())
    sign_in(curator, "curator")
    curator.goto("/curation")
    queued = curator.get_by_role("region", name=f"{dataset} version 1")
    assert "Every DICOM instance de-identified" in queued.inner_text()
    queued.get_by_role("button", name="Validate").click()
    curator.get_by_text("is validated: its owners may publish it").wait_for()
    screenshot(curator, "dataset-curation")
    # The owner publishes it.
    page.reload()
    page.get_by_role("button", name="Publish version 1").click()
    page.get_by_text("is published").wait_for()
    # Another user asks for access on the public page.
    member = browser.new_context(base_url=live_server.url, accept_downloads=True).new_page()
    sign_in(member, "member")
    member.goto(f"/datasets/{dataset}/v1")
    member.get_by_label("Purpose").fill("Training a segmentation model.")
    member.get_by_role("button", name="Request access").click()
    member.get_by_text("Your request is sent").wait_for()
    assert member.get_by_role("link", name="zip").count() == 0
    # The owner approves it; the member's page then offers the download, which answers.
    page.reload()
    page.get_by_role("form", name="Decide request 1").get_by_role("button", name="Approve").click()
    page.get_by_text("approve done").wait_for()
    member.reload()
    link = member.get_by_role("region", name="Access to the files").get_by_role("link", name="zip")
    with member.expect_download() as waiting:
        link.click()
    with zipfile.ZipFile(io.BytesIO(Path(waiting.value.path()).read_bytes())) as archive:
        names = archive.namelist()
    assert names[:2] == ["manifest.json", "manifest.sha256"] and len(names) == 2 + 4
    screenshot(member, "dataset-access")
