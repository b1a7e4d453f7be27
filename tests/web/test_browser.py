"""The web interface in a real browser: what people do, start to end."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from scandepot.access.actors import SYSTEM
from scandepot.archive import projects
from scandepot.archive.projects import ProjectSettings
from scandepot.catalog.prearchive import StagedSession
from scandepot.context import Context
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes
from scandepot.export import list_format
from scandepot.notify import subscriptions
from tests.web.conftest import receive_study, screenshot, sign_in

pytestmark = pytest.mark.interop


@pytest.fixture
def backend() -> str:
    """The browser tests run on the embedded catalog; tests/web/test_pages.py covers both."""
    return "sqlite"


@pytest.fixture
def brain(ctx: Context, make_project: Callable[..., str]) -> str:
    """A private project whose uploads are archived at once, with one archived session."""
    label = make_project(
        "private",
        label="Brain01",
        name="Brain development study",
        description="Structural and resting-state MRI of a developing brain cohort.",
        upload_destination="archive",
    )
    make_project("public", label="Open01", name="Open phantom data")
    receive_study(ctx, label, subject="sub-01", session="ses-01")
    return label


def test_sign_in_find_a_project_and_sign_out(page: Any, brain: str) -> None:
    page.goto("/")
    screenshot(page, "home-anonymous")
    assert page.get_by_role("link", name="Open01").is_visible()
    assert page.get_by_role("link", name="Brain01").count() == 0
    sign_in(page, "member")
    assert page.get_by_role("heading", name="My projects").is_visible()
    screenshot(page, "home")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    page.get_by_label("Find a project").fill("brain")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.projects tbody tr")
    assert rows.count() == 1 and "Brain development study" in rows.inner_text()
    screenshot(page, "projects")
    page.get_by_role("link", name="Brain01").click()
    page.get_by_role("heading", name="Brain development study").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You are signed out.").wait_for()


def test_a_session_shows_its_scans_and_thumbnails(page: Any, brain: str) -> None:
    sign_in(page, "collaborator", start="/projects/Brain01")
    assert page.url.endswith("/projects/Brain01")
    screenshot(page, "project")
    page.get_by_role("link", name="ses-01").click()
    page.get_by_role("heading", name="Session ses-01").wait_for()
    scans = page.locator("table.scans tbody.scan")
    assert scans.count() == 2
    first = scans.nth(0).locator("tr").first.inner_text()
    assert "T1w MPRAGE" in first and "MR" in first and "12" in first
    pictures = page.locator("table.scans td.thumb img")
    assert pictures.count() == 2
    for k in range(2):
        pictures.nth(k).scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=pictures.nth(k).element_handle()
        )
    page.get_by_text("Details of scan 1").click()
    details = scans.nth(0).locator("details")
    assert "MR Image Storage" in details.inner_text()
    assert "Explicit VR Little Endian" in details.inner_text()
    screenshot(page, "session")
    # A collaborator reads; marking quality and notes are for members.
    assert page.locator('select[name="quality"]').count() == 0


def test_a_member_marks_quality_and_writes_a_note(page: Any, brain: str, ctx: Context) -> None:
    sign_in(page, "member", start="/projects/Brain01/sessions/ses-01")
    page.get_by_label("Quality of scan 2").select_option("unusable")
    page.locator("#scan-2").get_by_role("button", name="Mark").click()
    page.get_by_text("Scan 2 is marked unusable.").wait_for()
    page.get_by_label("Note on session ses-01").fill("Motion in the resting-state run.")
    page.get_by_role("button", name="Save note").click()
    page.get_by_text("The note is saved.").wait_for()
    assert page.get_by_label("Note on session ses-01").input_value().startswith("Motion")


def test_an_owner_changes_a_project_setting(page: Any, brain: str, ctx: Context) -> None:
    sign_in(page, "owner", start="/projects/Brain01")
    page.get_by_role("link", name="Manage").click()
    page.get_by_label("When incoming data conflicts with archived data").select_option("replace")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("The project settings are saved.").wait_for()
    saved = projects.get(ctx, SYSTEM, brain).project
    assert saved.conflict_policy == "replace"
    # The project's messages go to the addresses of its Notifications section.
    page.get_by_label("Email address").fill("pi@example.org")
    page.get_by_label("Export process (received, routed, built, archived, pipelines)").check()
    page.get_by_role("button", name="Add recipient").click()
    page.get_by_text("pi@example.org gets archived, process messages.").wait_for()
    screenshot(page, "project-manage")
    recipients = subscriptions.list_recipients(ctx, SYSTEM, brain)
    assert [(r.address, r.topics) for r in recipients] == [
        ("pi@example.org", ["archived", "process"])
    ]
    # A mistake is told in words, on the same page.
    page.get_by_label("Series filter", exact=True).select_option("deny")
    page.get_by_label("Series descriptions (regular expressions)").fill("([unclosed")
    page.get_by_role("button", name="Save settings").click()
    assert "is not a regular expression" in page.locator(".flash-error").inner_text()
    page.get_by_role("link", name="Access").click()
    screenshot(page, "project-access")
    page.get_by_role("link", name="Pipelines").click()
    page.locator("#pl-snapshots + p + form").get_by_text("Members may run it").click()
    page.get_by_role("button", name="Save Snapshots").click()
    page.get_by_text("The settings of Snapshots are saved.").wait_for()
    screenshot(page, "project-pipelines")


def test_archive_a_session_from_the_prearchive(page: Any, ctx: Context, make_project: Any) -> None:
    make_project("private", label="Review01", name="Reviewed uploads")
    receive_study(ctx, "Review01", subject="sub-07", session="ses-07", series=((3, "T2w"),))
    with ctx.db.read() as db:
        staged = db.scalar(select(StagedSession).where(StagedSession.project_key == "Review01"))
    assert staged is not None and staged.status == "READY"
    sign_in(page, "owner", start="/prearchive")
    screenshot(page, "prearchive")
    page.get_by_role("link", name=str(staged.id), exact=True).click()
    page.get_by_role("heading", name=f"Staged session {staged.id}").wait_for()
    assert "T2w" in page.locator("table").last.inner_text()
    screenshot(page, "prearchive-session")
    page.get_by_role("button", name="Archive", exact=True).click()
    page.get_by_text("Archived 12 file(s) into Review01 / sub-07 / ses-07.").wait_for()
    assert page.url.endswith("/projects/Review01/sessions/ses-07")
    assert page.locator("table.scans tbody.scan").count() == 1
    page.goto("/prearchive")
    page.get_by_text("Nothing is waiting.").wait_for()


def test_download_a_session_and_check_the_zip(page: Any, brain: str) -> None:
    sign_in(page, "collaborator", start="/download?project=Brain01")
    page.get_by_label("ses-01").check()
    page.get_by_label("DICOM", exact=True).check()
    page.get_by_label("T1w MPRAGE").check()
    page.get_by_label("Folders").select_option("session")
    screenshot(page, "download")
    with page.expect_download() as waiting:
        page.get_by_role("button", name="Download", exact=True).click()
    download = waiting.value
    assert download.suggested_filename.endswith(".zip")
    data = download.path().read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
    dicom = [n for n in names if n.endswith(".dcm")]
    assert len(dicom) == 12 and all(n.startswith("ses-01/1-T1w_MPRAGE/DICOM/") for n in dicom)
    assert any("manifest" in n.lower() for n in names)


def test_save_a_selection_as_a_list(page: Any, brain: str) -> None:
    """Save as list: the same choices saved as a download list, a file the browser keeps."""
    sign_in(page, "collaborator", start="/download?project=Brain01")
    page.get_by_label("ses-01").check()
    page.get_by_label("DICOM", exact=True).check()
    page.get_by_label("T1w MPRAGE").check()
    page.get_by_label("Folders").select_option("session")
    with page.expect_download() as waiting:
        page.get_by_role("button", name="Save as list").click()
    download = waiting.value
    assert re.fullmatch(r"scandepot-list-Brain01-ses-01-\d{8}\.xml", download.suggested_filename)
    listed = list_format.parse(download.path().read_bytes())
    assert (listed.project, listed.layout) == ("Brain01", "session")
    paths = [e.path for e in listed.entries]
    assert len(paths) == 12 and all(p.startswith("ses-01/1-T1w_MPRAGE/DICOM/") for p in paths)


def test_tick_single_files_of_a_session_and_check_the_zip(page: Any, brain: str) -> None:
    """From the session page to its files: two files of one scan ticked by hand, every
    file of another scan by its group's "All" box (the script), one zip of just those."""
    sign_in(page, "collaborator", start="/projects/Brain01/sessions/ses-01")
    page.get_by_role("link", name="Choose single files…").click()
    page.locator("#files").wait_for()
    groups = page.locator("#files details.file-group")
    first = groups.filter(has_text="DICOM of scan 1")
    first.locator("summary").click()
    boxes = first.locator('input[name="file"]')
    chosen = [boxes.nth(0).get_attribute("value"), boxes.nth(3).get_attribute("value")]
    boxes.nth(0).check()
    boxes.nth(3).check()
    second = groups.filter(has_text="DICOM of scan 2")
    second.locator("summary").click()
    second.get_by_label("All of DICOM of scan 2 (BOLD rest)").check()
    assert page.locator('input[name="file"]:checked').count() == 2 + 12
    screenshot(page, "download-files")
    with page.expect_download() as waiting:
        page.get_by_role("button", name="Download", exact=True).click()
    download = waiting.value
    assert download.suggested_filename == "Brain01-ses-01.zip"
    with zipfile.ZipFile(io.BytesIO(download.path().read_bytes())) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    dicom = [n for n in names if n.endswith(".dcm")]
    assert len(dicom) == 14 and manifest["file_count"] == 14
    scan1 = [n for n in dicom if "/scans/1-" in n]
    assert sorted(n.rsplit("/", 1)[1] for n in scan1) == sorted(
        str(c).rsplit("/", 1)[1] for c in chosen
    )
    assert sum("/scans/2-" in n for n in dicom) == 12


def test_a_collaborator_sees_no_manage_tab_and_an_outsider_no_private_project(
    page: Any, brain: str
) -> None:
    sign_in(page, "collaborator", start="/projects/Brain01")
    tabs = page.get_by_role("navigation", name="Project sections")
    assert tabs.get_by_role("link", name="Access").is_visible()
    assert tabs.get_by_role("link", name="Manage").count() == 0
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, "outsider")
    assert page.get_by_role("link", name="Open01").is_visible()
    assert page.get_by_role("link", name="Brain01").count() == 0
    page.goto("/projects?q=Brain")
    assert page.get_by_text("No project matches").is_visible()
    page.goto("/projects/Brain01")
    assert page.get_by_role("heading", name="Not found").is_visible()


def test_site_admin_pages(page: Any, brain: str) -> None:
    sign_in(page, "admin", start="/admin/users")
    page.get_by_label("Login", exact=True).fill("newcomer")
    page.get_by_label("Full name").fill("New Comer")
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_label("Password of newcomer").input_value() != ""
    screenshot(page, "admin-users")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").fill("user.*")
    page.get_by_role("button", name="Filter").click()
    assert "newcomer" in page.locator("table.audit").inner_text()
    screenshot(page, "admin-audit")
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    assert page.get_by_label("Token").input_value().startswith("sdt_")
    screenshot(page, "tokens")
    page.goto("/upload?project=Brain01")
    screenshot(page, "upload")


def test_settings_are_read_only_for_members(page: Any, brain: str, ctx: Context) -> None:
    projects.update(ctx, SYSTEM, brain, ProjectSettings(accessibility="protected"))
    sign_in(page, "member", start="/projects/Brain01?tab=pipelines")
    assert page.get_by_role("button", name="Save Snapshots").count() == 0
    assert page.get_by_text("This project is protected.").count() == 0
    page.get_by_role("link", name="Access").click()
    page.get_by_text("This project is protected.").wait_for()


def upload_to_archive(page: Any, upload: Path, *, subject: str, session: str) -> None:
    """Fill the upload form for ``upload`` with these labels, straight to the archive, and
    send it."""
    page.get_by_label("Take subject and session from the DICOM headers").uncheck()
    page.get_by_label("Subject", exact=True).fill(subject)
    page.get_by_label("Session", exact=True).fill(session)
    page.get_by_label("Destination").select_option("archive")
    page.get_by_label("Compressed file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload", exact=True).click()


def test_upload_a_zip_through_the_form_and_see_it_arrive(
    page: Any, brain: str, ctx: Context, tmp_path: Path
) -> None:
    study = Study(PatientID="PAT002", StudyDescription="Research^Follow-up")
    pack = io.BytesIO()
    with zipfile.ZipFile(pack, "w") as archive:
        for number, description in ((4, "T1w MPRAGE"), (5, "DWI 64dir")):
            series = Series(number, description)
            for k in range(1, 4):
                ds = mr_instance(study, series, k, rows=32, columns=32)
                archive.writestr(f"study/{number}/{k}.dcm", to_bytes(ds))
        archive.writestr("study/README.txt", "not DICOM")
    upload = tmp_path / "follow-up.zip"
    upload.write_bytes(pack.getvalue())

    sign_in(page, "member", start="/upload?project=Brain01")
    upload_to_archive(page, upload, subject="sub-02", session="ses-02")
    result = page.locator("#u-result")
    result.get_by_text("The upload held 6 DICOM files").wait_for()
    assert page.locator("#u-progress").evaluate("p => p.value") == 100
    text = result.inner_text()
    assert "6 new, sent to the archive." in text
    assert "Brain01 / sub-02 / ses-02: archived, 6 of 6 files new, 2 scans." in text
    assert "Scan 5: DWI 64dir (MR), 3 files" in text
    assert "1 file skipped" in text and "README.txt" in text
    screenshot(page, "upload-done")
    result.get_by_role("link", name="Brain01 / sub-02 / ses-02").click()
    page.get_by_role("heading", name="Session ses-02").wait_for()
    assert page.locator("table.scans tbody.scan").count() == 2
    # A refusal is told in words too: the same files under other labels.
    page.goto("/upload?project=Brain01")
    upload_to_archive(page, upload, subject="sub-02", session="ses-03")
    page.locator("#u-result.flash-error").wait_for()
    refusal = page.locator("#u-result").inner_text()
    assert "held already, in archived session" in refusal and "(sub-02/ses-02)" in refusal
    # The same files again with the labels from their headers: named where they are.
    page.goto("/upload?project=Brain01")
    page.get_by_label("Destination").select_option("archive")
    page.get_by_label("Compressed file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload", exact=True).click()
    result.get_by_text("none new").wait_for()
    held = result.locator("a", has_text="archived session SD_E")
    assert held.inner_text().endswith("(sub-02 / ses-02)")
    assert "6 files held already, nothing added" in result.inner_text()
    held.click()
    page.get_by_role("heading", name="Session ses-02").wait_for()
